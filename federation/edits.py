"""Edits of posts: the earlier version of a post is kept when it changes, and a local author's Update."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.outbox import follower_actors, queue_deliveries, remote_inboxes, store_activity
from federation.richtext import Rendered
from federation.vocabulary import AS, as_list, iso
from models import Activity, Actor, Object, utcnow
from models.actor import actors_by_uris
from models.content import ObjectVersion


def source_of(document: dict | None) -> str | None:
    source = (document or {}).get("source")
    return (
        source.get("content") if isinstance(source, dict) and isinstance(source.get("content"), str) else None
    )


def changes(obj: Object, name: str | None, content: str | None) -> bool:
    """Whether a post's title or text differ from what is stored."""
    return (obj.name or None) != (name or None) or (obj.content or "") != (content or "")


async def remember_version(session: AsyncSession, obj: Object) -> None:
    """Keeps the current title and text of a post before they are replaced."""
    now = utcnow()
    session.add(
        ObjectVersion(
            object_id=obj.id,
            name=obj.name,
            content=obj.content,
            source=source_of(obj.document),
            written_at=obj.updated or obj.published or now,
            replaced_at=now,
        )
    )
    obj.updated = now


async def versions(session: AsyncSession, obj: Object) -> list[ObjectVersion]:
    """Earlier versions of a post, oldest first."""
    return list(
        (
            await session.scalars(
                select(ObjectVersion).where(ObjectVersion.object_id == obj.id).order_by(ObjectVersion.id)
            )
        ).all()
    )


async def edit_note(
    session: AsyncSession,
    fed: Federation,
    author: Actor,
    obj: Object,
    text: str,
    rendered: Rendered,
    title: str | None = None,
) -> Activity | None:
    """A local author edits a post: the earlier version is kept and an Update goes wherever the post went
    (followers, the actors it names, its space). None when nothing changed."""
    name = (title or obj.name) if obj.name is not None else None
    if not changes(obj, name, rendered.html):
        return None
    await remember_version(session, obj)
    document = dict(obj.document or {})
    cc = [*as_list(document.get("cc"))]
    cc += [uri for uri in rendered.mentioned if uri not in cc and uri not in as_list(document.get("to"))]
    document.update(
        {
            "content": rendered.html,
            "source": {"content": text, "mediaType": "text/markdown"},
            "tag": list(rendered.tags),
            "updated": iso(obj.updated),
            "cc": cc,
        }
    )
    if name is not None:
        document["name"] = name
    obj.name, obj.content, obj.document = name, rendered.html, document
    update = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Update",
        "actor": author.uri,
        "to": document.get("to", []),
        "cc": cc,
        "object": document,
    }
    if document.get("audience"):
        update["audience"] = document["audience"]
    activity = await store_activity(session, author, update)
    named = [u for u in as_list(document.get("to")) + cc if isinstance(u, str)]
    # A post only its named readers saw (a members-only space's) is not shown to the author's followers.
    followers = await follower_actors(session, author.id) if obj.public else []
    others = await actors_by_uris(session, named)
    await queue_deliveries(session, activity, author, remote_inboxes([*followers, *others]))
    await session.flush()
    return activity
