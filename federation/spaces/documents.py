"""The documents of spaces: the space's Group actor and the shapes of threads and replies."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import actor_document
from federation.content import markdown_to_html
from federation.context import Federation
from federation.outbox import (
    iso,
)
from federation.richtext import Rendered
from federation.spaces.store import SpaceView
from federation.vocabulary import PUBLIC
from models import Actor, Object, utcnow

POST_TYPES = frozenset({"Page", "Note", "Article", "Question"})


async def space_document(session: AsyncSession, fed: Federation, view: SpaceView) -> dict:
    """The Group actor of a local space, with FEP-1b12's moderators collection as attributedTo."""
    document = await actor_document(session, fed, view.actor)
    uri = view.actor.uri
    rules = markdown_to_html(view.space.rules) if view.space.rules else ""
    owner = await session.get(Actor, view.space.owner_id) if view.space.owner_id else None
    document.update(
        {
            "attributedTo": f"{uri}/moderators",
            "moderators": f"{uri}/moderators",
            "featured": f"{uri}/featured",
            "replies": f"{uri}/threads",
            "postingRestrictedToMods": False,
            "summary": (view.actor.summary or "") + (f"<h3>Rules</h3>{rules}" if rules else ""),
            "source": {"content": view.space.rules or "", "mediaType": "text/markdown"},
        }
    )
    if owner is not None:
        document["generator"] = {"type": "Group", "id": owner.uri, "name": owner.name or owner.username}
    return document


def post_document(
    fed: Federation,
    author: Actor,
    space_actor: Actor,
    rendered: Rendered,
    text: str,
    object_id: str,
    title: str | None = None,
    parent: Object | None = None,
    parent_author: Actor | None = None,
    members_only: bool = False,
) -> dict:
    """A thread (`Page` with a name) or a reply (`Note` with inReplyTo), addressed as FEP-1b12 asks.

    In a members-only space it is addressed to the space and its followers (its members) only: not to
    the public, nor to the author's followers or mentioned actors, who may not be members."""
    now = iso(utcnow())
    cc = [author.followers_url, *rendered.mentioned]
    tags = list(rendered.tags)
    if parent_author is not None and parent_author.uri != author.uri:
        cc.append(parent_author.uri)
        if not any(t.get("href") == parent_author.uri for t in tags):
            tags.append(
                {
                    "type": "Mention",
                    "href": parent_author.uri,
                    "name": f"@{parent_author.username}@{parent_author.host}",
                }
            )
    document = {
        "id": object_id,
        "type": "Page" if parent is None else "Note",
        "attributedTo": author.uri,
        "content": rendered.html,
        "mediaType": "text/html",
        "source": {"content": text, "mediaType": "text/markdown"},
        "published": now,
        "to": [space_actor.uri] if members_only else [space_actor.uri, PUBLIC],
        "cc": [space_actor.followers_url] if members_only else list(dict.fromkeys(cc)),
        "audience": space_actor.uri,
        "tag": tags,
        "url": object_id,
        "replies": f"{object_id}/replies",
        "sensitive": False,
    }
    if parent is None:
        document["name"] = title
        document["commentsEnabled"] = True
    else:
        document["inReplyTo"] = parent.uri
    return document
