"""The command line's failure: one line for stderr (main() prints it, and a Refusal, and exits 1)."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report as one line on stderr."""
