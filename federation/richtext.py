"""Markdown posts with @name@host mentions and #hashtags turned into links and Mention/Hashtag tags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from federation.content import sanitize_html

if TYPE_CHECKING:  # markdown-it loads at the first post written here
    from markdown_it.token import Token

MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9_.-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?)")
HASHTAG = re.compile(r"(?<![\w&#/])#(\w{1,100})")
WORD = re.compile(r"{}|{}".format(MENTION.pattern, HASHTAG.pattern))


def find_handles(text: str) -> list[str]:
    """The distinct name@host handles a text mentions, in order of appearance."""
    seen: dict[str, None] = {}
    for match in MENTION.finditer(text):
        seen[f"{match.group(1)}@{match.group(2).lower()}"] = None
    return list(seen)


@dataclass
class Rendered:
    html: str
    tags: list[dict] = field(default_factory=list)
    mentioned: list[str] = field(default_factory=list)  # actor ids, for addressing


@dataclass
class _Links:
    base_url: str
    actors: dict[str, tuple[str, str]]  # handle -> (actor id, profile url)
    tags: dict[str, dict] = field(default_factory=dict)

    def tag_url(self, name: str) -> str:
        return f"{self.base_url}/tags/{quote(name.lower())}"


def _link(href: str, text: str, css: str) -> list[Token]:
    from markdown_it.token import Token

    opening = Token("link_open", "a", 1, attrs={"href": href, "class": css})
    closing = Token("link_close", "a", -1)
    return [opening, Token("text", "", 0, content=text), closing]


def _split_text(token: Token, links: _Links) -> list[Token]:
    from markdown_it.token import Token

    out: list[Token] = []
    text, cursor = token.content, 0
    for match in WORD.finditer(text):
        if match.group(1):  # a mention
            handle = f"{match.group(1)}@{match.group(2).lower()}"
            if handle not in links.actors:
                continue
            actor_id, profile = links.actors[handle]
            replacement = _link(profile, f"@{match.group(1)}", "u-url mention")
            links.tags.setdefault(
                "m:" + actor_id, {"type": "Mention", "href": actor_id, "name": f"@{handle}"}
            )
        else:
            name = match.group(3)
            replacement = _link(links.tag_url(name), f"#{name}", "mention hashtag")
            links.tags.setdefault(
                "h:" + name.lower(),
                {"type": "Hashtag", "href": links.tag_url(name), "name": f"#{name.lower()}"},
            )
        if match.start() > cursor:
            out.append(Token("text", "", 0, content=text[cursor : match.start()]))
        out.extend(replacement)
        cursor = match.end()
    if cursor == 0:
        return [token]
    if cursor < len(text):
        out.append(Token("text", "", 0, content=text[cursor:]))
    return out


def _linkify_rule(links: _Links):
    def rule(state) -> None:
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            children, depth = [], 0
            for child in block.children:
                depth += child.type == "link_open"
                depth -= child.type == "link_close"
                children.extend(_split_text(child, links) if child.type == "text" and depth == 0 else [child])
            block.children = children

    return rule


def render_post(text: str, base_url: str, actors: dict[str, tuple[str, str]]) -> Rendered:
    """HTML and tags for a Markdown post; `actors` maps each resolved handle to (actor id, profile URL).

    Handles that could not be resolved stay plain text.
    """
    from markdown_it import MarkdownIt

    links = _Links(base_url, actors)
    md = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
    md.core.ruler.push("interpeople_links", _linkify_rule(links))
    html = sanitize_html(md.render(text).strip())
    tags = list(links.tags.values())
    return Rendered(html, tags, [t["href"] for t in tags if t["type"] == "Mention"])
