"""Who is asking: the signed-in member of a page request, or the verified signer of an ActivityPub fetch,
and the answers for those a members-only space refuses (a styled page, or a JSON error)."""

from __future__ import annotations

import json
from urllib.parse import quote

from aiohttp import web

from federation.actors import ActorError, get_actor
from federation.signatures import SignatureError, verify_request
from federation.spaces.access import may_fetch, may_read, space_of_object
from models import Actor, Object
from models.space import Space
from server import sessions
from server.keys import FED
from server.routes.common import wants_json


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


async def signed_in(request: web.Request) -> Actor:
    """The signed-in member; others are sent to sign in first (and brought back)."""
    member = await member_of(request)
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path)}")
    return member


async def admin_of(request: web.Request) -> Actor:
    """The signed-in admin; others are sent to sign in (anonymous) or refused (403)."""
    member = await signed_in(request)
    if member.role != "admin":
        raise web.HTTPForbidden(text="Only the instance's admins may see this page.")
    return member


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


async def check_space_reader(request: web.Request, obj: Object) -> None:
    """A post of a members-only space: fetches must be signed by a reader, pages seen by a signed-in member."""
    fed = request.app[FED]
    async with fed.db.session() as session:
        space = await space_of_object(session, obj)
        if space is None or space.visibility == "public":
            return
        if not wants_json(request):
            if not await may_read(session, space, await member_of(request)):
                raise web.HTTPForbidden(
                    text="This post belongs to a members-only space: sign in as a member "
                    "and open it from the space's page."
                )
            return
    await check_fetch(request, space)
