"""Dialogue: event-sourced tracker, stores, locks, flow engine and the turn manager."""
