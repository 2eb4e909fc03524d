"""The hashtags a post carries, indexed for tag timelines."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from federation.vocabulary import as_list
from models import Object
from models.base import insert_all_unless_present
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
    await insert_all_unless_present(
        session, Hashtag, ["name", "object_id"], [{"name": n, "object_id": obj.id} for n in names]
    )
