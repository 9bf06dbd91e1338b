"""Persistence: engine and migrations (db), domain tables (models), audit trail (audit)."""
