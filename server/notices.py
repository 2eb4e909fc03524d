"""The messages pages show after a form (`?notice=CODE`): only texts from this table, never text from the URL."""

from __future__ import annotations

NOTICES = {
    "banned": "You are banned from this space.",
    "members-only": "This space is open to members of its movements only.",
    "locked": "This thread is locked.",
    "removed": "This post was removed.",
    "empty": "There is nothing to post: the text is empty.",
    "no-title": "A thread needs a title.",
    "not-in-thread": "That post is not in this thread.",
    "unknown-moderation": "That is not a moderation this page offers.",
    "deleted": "The post you answer was deleted.",
    "unreachable": "The space's instance could not be reached; try again later.",
    "space-refused": "The space's instance refused the post.",
    "not-signatory": "Only signatories and admins of a party may do that.",
    "not-party": "Your movement is neither a party nor the mediator of this proposal.",
    "already-signed": "Your movement has already signed this version.",
    "changed": "The proposal changed meanwhile: reload the page and try again.",
    "author-only": "Only the author may withdraw a proposal; parties decline it.",
    "mandate": "Your movement signs only with a mandate: no internal decision on this version has passed yet.",
    "closed": "The decision is closed: no more votes.",
    "members-vote": "Only members of the movement vote in this decision.",
    "refused": "That was refused.",
    "post-deleted": "Your post was deleted.",
    "reported": "Thank you: the space's moderators got your report.",
    "no-reason": "Please say why.",
    "not-author": "Only the author may edit or delete a post.",
    "left": "You left the space.",
    "not-moderator": "Only the space's moderators may do that.",
    "own-post": "You cannot ban yourself.",
    "unknown-actor": "No such account could be found.",
}

# A refusal's message (federation code, sometimes quoting a peer) is never shown: it is mapped to a code.
_RULES = (
    ("banned", "banned"),
    ("members of its movements", "members-only"),
    ("locked", "locked"),
    ("was removed", "removed"),
    ("empty", "empty"),
    ("needs a title", "no-title"),
    ("not a post of", "not-in-thread"),
    ("was deleted", "deleted"),
    ("cannot find", "unreachable"),
    ("the space refused", "space-refused"),
    ("neither a party nor", "not-party"),
    ("is not a party", "not-party"),
    ("already signed", "already-signed"),
    ("only with a mandate", "mandate"),
    ("closed", "closed"),
    ("only members of the movement vote", "members-vote"),
    ("version", "changed"),
    ("only the author may edit", "not-author"),
    ("only the author", "author-only"),
    ("cannot ban yourself", "own-post"),
)


def code_for(message: str) -> str:
    """The notice code that stands for a refusal's message ("refused" when none fits)."""
    lowered = message.lower()
    return next((code for needle, code in _RULES if needle in lowered), "refused")


def text_of(code: str | None) -> str | None:
    """The text of a known code; None for anything else (so a crafted URL shows nothing)."""
    return NOTICES.get(code) if code else None
