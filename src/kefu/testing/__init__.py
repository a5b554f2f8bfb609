"""Test doubles and conformance suites shipped with kefu."""
