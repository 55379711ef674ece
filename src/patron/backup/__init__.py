"""Backup and restore of a whole Patron database, the same file format on SQLite and PostgreSQL."""
