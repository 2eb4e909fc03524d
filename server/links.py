"""The template filter that keeps links to http(s) URLs and site paths (second line behind models.types.WebUrl)."""

from __future__ import annotations

from urllib.parse import urlsplit

from models.types import web_url


def site_path(value: object) -> str | None:
    """value when it is a path of this site ("/x?y"), else None.

    Browsers drop tabs and newlines and read a backslash as a slash, so "/<TAB>/evil.example" and
    "/<BACKSLASH>evil.example" mean "//evil.example": any control character, space or backslash disqualifies.
    """
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return None
    if any(ord(c) < 0x21 or c == "\\" or 0x7F <= ord(c) <= 0x9F for c in value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def link_target(value: object) -> str:
    """value for an href when it is an http(s) URL or a path of this site; "#" for anything else."""
    return web_url(value) or site_path(value) or "#"
