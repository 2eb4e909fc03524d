"""Fetching posts of spaces from their origins: a post, the unknown ancestors of a reply, its author."""

from __future__ import annotations

import logging

from sqlalchemy import select

from federation.actors import ActorError, get_actor
from federation.context import Federation
from federation.spaces.documents import POST_TYPES
from federation.vocabulary import host_of, id_of
from models import Object

log = logging.getLogger(__name__)


ANCESTOR_LIMIT = 8


async def fetch_post(fed: Federation, uri: str) -> tuple[dict, str] | None:
    """A post from its origin and its (stored) author's id, or None when it cannot be had."""
    try:
        document = await fed.fetch_document(uri)
        author = await get_actor(fed, id_of(document.get("attributedTo")) or "")
    except Exception as error:  # noqa: BLE001 -- an unreachable ancestor only leaves a gap
        log.info("cannot fetch %s: %s", uri, error)
        return None
    if document.get("type") not in POST_TYPES or host_of(document["id"]) != host_of(author.uri):
        return None
    return document, author.uri


async def fetch_ancestors(fed: Federation, document: dict) -> list[tuple[dict, str]]:
    """The unknown posts above a reply, up to its thread, fetched from their origins (root first)."""
    found: list[tuple[dict, str]] = []
    parent = id_of(document.get("inReplyTo"))
    while parent and len(found) < ANCESTOR_LIMIT:
        async with fed.db.session() as session:
            if await session.scalar(select(Object.id).where(Object.uri == parent)):
                break
        if fed.urls.is_local(parent):
            break
        fetched = await fetch_post(fed, parent)
        if fetched is None:
            break
        found.append(fetched)
        parent = id_of(fetched[0].get("inReplyTo"))
    return list(reversed(found))


async def known_or_fetched_author(fed: Federation, document: dict) -> str | None:
    try:
        return (await get_actor(fed, id_of(document.get("attributedTo")) or "")).uri
    except ActorError as error:
        log.info("unknown author of %s: %s", document.get("id"), error)
        return None
