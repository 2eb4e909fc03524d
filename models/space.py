"""Placeholder: filled by the space feature."""
