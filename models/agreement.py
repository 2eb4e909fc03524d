"""Placeholder: filled by the agreement feature."""
