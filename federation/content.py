"""Turning Markdown into HTML and making remote HTML safe to store and show."""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("strikethrough")

ALLOWED_TAGS = {
    "p", "br", "a", "span", "strong", "b", "em", "i", "u", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "class", "title"}, "span": {"class"}, "ol": {"start"}}


def sanitize_html(html: str | None) -> str:
    """Remote HTML, reduced to the tags Mastodon also keeps; scripts, styles and handlers go."""
    if not html:
        return ""
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )


def markdown_to_html(text: str) -> str:
    return sanitize_html(_markdown.render(text).strip())
