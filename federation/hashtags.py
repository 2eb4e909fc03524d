"""The hashtags a post carries, indexed for tag timelines, and the visibility its addressing implies."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.vocabulary import PUBLIC_ALIASES, as_list, id_of
from models import Object
from models.interaction import Hashtag


def tag_names(document: dict) -> list[str]:
    names = []
    for tag in as_list(document.get("tag")):
        if isinstance(tag, dict) and tag.get("type") == "Hashtag" and isinstance(tag.get("name"), str):
            name = tag["name"].lstrip("#").strip().lower()
            if name and len(name) <= 255 and name not in names:
                names.append(name)
    return names


async def index_hashtags(session: AsyncSession, obj: Object) -> None:
    names = tag_names(obj.document or {})
    if not names:
        return
    known = set((await session.scalars(select(Hashtag.name).where(Hashtag.object_id == obj.id))).all())
    rows = [{"name": n, "object_id": obj.id} for n in names if n not in known]
    if rows:
        await session.execute(insert(Hashtag), rows)


def visibility_of(document: dict, followers_url: str | None) -> str:
    """public, unlisted, private or direct, read from to and cc the way Mastodon reads them."""
    to = {id_of(x) for x in as_list(document.get("to"))}
    cc = {id_of(x) for x in as_list(document.get("cc"))}
    if to & PUBLIC_ALIASES:
        return "public"
    if cc & PUBLIC_ALIASES:
        return "unlisted"
    if followers_url and followers_url in to | cc:
        return "private"
    return "direct"
