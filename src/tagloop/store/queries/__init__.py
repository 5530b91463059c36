"""Keyword-only read/write functions over a session; they return records, never rows."""
