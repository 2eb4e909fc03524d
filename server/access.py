"""Who is asking: the signed-in member of a page request, or the verified signer of an ActivityPub fetch,
and the answers for those a members-only space refuses (a styled page, or a JSON error)."""

from __future__ import annotations

import json

from aiohttp import web

from federation.actors import ActorError, get_actor
from federation.signatures import SignatureError, verify_request
from federation.spaces.access import may_fetch
from models import Actor
from models.space import Space
from server import sessions
from server.keys import FED


async def signer_of(request: web.Request) -> Actor | None:
    """The actor whose key signed this GET (draft-cavage, as Mastodon signs fetches); None when unsigned."""
    if "signature" not in request.headers:
        return None
    fed = request.app[FED]
    try:
        owner = await verify_request(
            "get",
            request.raw_path,
            request.headers,
            None,
            fed.keys.lookup,
            fed.settings.signature_max_age,
            fed.settings.signature_max_future,
        )
        return await get_actor(fed, owner)
    except (SignatureError, ActorError):
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "the signature of this fetch does not verify"}),
            content_type="application/json",
        ) from None


async def member_of(request: web.Request) -> Actor | None:
    session = await sessions.load(request)
    if session.member_id is None:
        return None
    async with request.app[FED].db.session() as db:
        return await db.get(Actor, session.member_id)


async def check_fetch(request: web.Request, space: Space | None) -> None:
    """A JSON fetch of a members-only space's object: 401 unsigned, 403 signed by someone who may not read."""
    if space is None or space.visibility == "public":
        return
    signer = await signer_of(request)
    if signer is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "members only: sign this fetch as a member"}),
            content_type="application/json",
        )
    async with request.app[FED].db.session() as session:
        allowed = await may_fetch(session, space, signer)
    if not allowed:
        raise web.HTTPForbidden(
            text=json.dumps({"error": f"{signer.uri} may not read this members-only space"}),
            content_type="application/json",
        )
