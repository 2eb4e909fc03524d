"""Alembic migrations for the Interpeople schema."""
