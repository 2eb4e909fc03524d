"""POST endpoints of the shared inbox and each local actor's inbox."""

from __future__ import annotations

import json

from aiohttp import web

from federation.fetch import read_up_to
from federation.urls import INSTANCE_ACTOR
from models import Actor
from models.actor import local_actor
from server.keys import FED, INBOX


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[FED].settings.max_inbox_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = await read_up_to(request.content, limit + 1)
    if len(body) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


RETRY_BUSY_AFTER = 30  # seconds
_SUCCESS_BODIES: dict[str, bytes] = {}  # the few success answers, serialised once


async def _answer(request: web.Request, recipient: Actor | None) -> web.Response:
    body = await _read_body(request)
    status, message = await request.app[INBOX].receive(
        request.method, request.raw_path, request.headers, body, recipient
    )
    if status >= 400:
        # 503 (busy, nothing stored): say when to come back, as Mastodon's and our own delivery read it
        headers = {"Retry-After": str(RETRY_BUSY_AFTER)} if status == 503 else None
        return web.json_response({"error": message}, status=status, headers=headers)
    answer = _SUCCESS_BODIES.get(message)
    if answer is None:
        answer = json.dumps({"status": message}).encode()
        if len(_SUCCESS_BODIES) < 64:
            _SUCCESS_BODIES[message] = answer
    return web.Response(body=answer, status=status, content_type="application/json")


async def shared_inbox(request: web.Request) -> web.Response:
    return await _answer(request, None)


async def actor_inbox(request: web.Request) -> web.Response:
    fed = request.app[FED]
    name = request.match_info.get("name", INSTANCE_ACTOR)
    async with fed.db.session() as session:
        actor = await local_actor(session, name)
    if actor is None:
        return web.json_response({"error": f"no actor {name} here"}, status=404)
    return await _answer(request, actor)


def setup(app: web.Application) -> None:
    app.router.add_post("/inbox", shared_inbox)
    app.router.add_post("/actor/inbox", shared_inbox)
    app.router.add_post("/actors/{name}/inbox", actor_inbox)
