"""Placeholder: filled by the oauth feature."""
