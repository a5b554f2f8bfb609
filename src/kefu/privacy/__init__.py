"""Data-subject rights (PIPL / GDPR): export and erase what kefu holds on a customer."""
