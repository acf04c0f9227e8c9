"""Fixtures for this tier (being written)."""
