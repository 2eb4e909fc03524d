"""OAuth scopes of the Mastodon API: the top-level ones, their sub-scopes, and the check an endpoint makes."""

from __future__ import annotations

TOP = ("read", "write", "follow", "push", "profile")
SUB = {
    "read": (
        "accounts",
        "blocks",
        "bookmarks",
        "favourites",
        "filters",
        "follows",
        "lists",
        "mutes",
        "notifications",
        "search",
        "statuses",
    ),
    "write": (
        "accounts",
        "blocks",
        "bookmarks",
        "conversations",
        "favourites",
        "filters",
        "follows",
        "lists",
        "media",
        "mutes",
        "notifications",
        "reports",
        "statuses",
    ),
}
# `follow` is the old name for these (Mastodon keeps it as an alias).
FOLLOW = frozenset(
    {"read:blocks", "read:follows", "read:mutes", "write:blocks", "write:follows", "write:mutes"}
)
KNOWN = frozenset(TOP) | frozenset(f"{top}:{sub}" for top, subs in SUB.items() for sub in subs)


class ScopeError(ValueError):
    pass


def parse(text: str | None, default: str = "read") -> list[str]:
    """A scope string ("read write:statuses", or with + or , between) as a list; unknown scopes refused."""
    raw = (text or "").replace("+", " ").replace(",", " ").split()
    scopes = list(dict.fromkeys(raw or default.split()))
    unknown = [s for s in scopes if s not in KNOWN]
    if unknown:
        raise ScopeError(f"unknown scope {unknown[0]!r}")
    return scopes


def covers(granted: frozenset[str] | set[str], wanted: str) -> bool:
    """Whether granted scopes allow `wanted` ("read", or a sub-scope like "read:statuses")."""
    if wanted in granted:
        return True
    top, _, _ = wanted.partition(":")
    if top != wanted and top in granted:
        return True
    return "follow" in granted and wanted in FOLLOW


def within(requested: list[str], allowed: list[str]) -> bool:
    """Whether every requested scope is one the app registered (directly or through its parent)."""
    return all(covers(frozenset(allowed), s) for s in requested)
