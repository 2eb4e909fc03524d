"""Turning Markdown into HTML, making remote HTML safe to store and show, and the columns of remote objects."""

from __future__ import annotations

import datetime as dt
import functools
import re

import nh3

from federation.vocabulary import id_of, is_public, visibility_of


@functools.cache
def _markdown():
    # markdown-it (62 modules) loads at the first post written here, not in an idle server
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        "strikethrough"
    )


ALLOWED_TAGS = {
    "p",
    "br",
    "a",
    "span",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "class", "title"}, "span": {"class"}, "ol": {"start"}}
# Built once: nh3.clean would convert these rules for every call (5x the cost of cleaning a post).
_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel="nofollow noopener noreferrer",
)


def sanitize_html(html: str | None) -> str:
    """Remote HTML, reduced to the tags Mastodon also keeps; scripts, styles and handlers go."""
    if not html:
        return ""
    return _TOP_HEADING.sub(r"<\1h2", _cleaner.clean(html))  # pages have their own h1


_TOP_HEADING = re.compile(r"<(/?)h1\b", re.IGNORECASE)
_HEADING = re.compile(r"<(/?)h([1-5])\b")


def demote_headings(html: str) -> str:
    """Markdown's headings one level down (# is h2), under the h1 of the page that shows them."""
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", html)


def markdown_to_html(text: str) -> str:
    return sanitize_html(demote_headings(_markdown().render(text).strip()))


def parse_time(value) -> dt.datetime | None:
    """An ISO 8601 time as an aware UTC datetime (a time without zone is taken as UTC); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(dt.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def published_of(document: dict) -> dt.datetime:
    """An object's `published` time (UTC), or now when it has none we can read."""
    return parse_time(document.get("published")) or dt.datetime.now(dt.timezone.utc)


def remote_object_fields(document: dict, followers_url: str | None) -> dict:
    """The columns of a remote object (content and summary sanitised), except its id, author and dates.

    followers_url is its author's followers collection, which tells a followers-only post.
    """
    content = sanitize_html(document["content"]) if isinstance(document.get("content"), str) else None
    return {
        "type": document.get("type") or "Object",
        "name": document.get("name") if isinstance(document.get("name"), str) else None,
        "summary": sanitize_html(document["summary"]) if isinstance(document.get("summary"), str) else None,
        "content": content,
        "in_reply_to": id_of(document.get("inReplyTo")),
        "context": id_of(document.get("context")) or id_of(document.get("audience")),
        "public": is_public(document),
        "visibility": visibility_of(document, followers_url),
        "document": {**document, "content": content} if content is not None else document,
    }
