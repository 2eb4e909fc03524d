"""Streaming: the `user` stream (home timeline and notifications) and the `public` streams, over server-sent
events and WebSocket.

One poller per process reads what is new in the database (timeline entries, posts, notifications) and hands
it to the open streams, so posts written by any process (the inbox, the command line, another worker) arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from sqlalchemy import func, select

from models import Actor, Object, TimelineEntry
from models.interaction import Notification
from server.keys import FED
from server.mastodon.api import ApiError, Caller, Params, authenticate, endpoint
from server.mastodon.entities import Renderer
from server.mastodon.scopes import covers
from server.mastodon.timelines import POST_TYPES

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
STREAMS = ("user", "user:notification", "public", "public:local", "public:remote")


@dataclass(eq=False)
class Listener:
    """One open stream connection: its account (None for anonymous public streams) and what it listens to."""

    account: Actor | None
    streams: set[str]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=500))

    def offer(self, stream: str, event: str, payload) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((stream, event, payload))


class Hub:
    def __init__(self, app: web.Application):
        self.app = app
        self.listeners: set[Listener] = set()
        self._task: asyncio.Task | None = None
        self._marks: dict[str, int] = {}

    def add(self, listener: Listener) -> None:
        self.listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def shutdown(self) -> None:
        """Ends every open stream (the server is stopping)."""
        for listener in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        fed = self.app[FED]
        async with fed.db.session() as session:
            self._marks = {
                "entry": await session.scalar(select(func.max(TimelineEntry.id))) or 0,
                "object": await session.scalar(select(func.max(Object.id))) or 0,
                "notification": await session.scalar(select(func.max(Notification.id))) or 0,
            }
        while self.listeners:
            try:
                await self._poll()
            except Exception:  # noqa: BLE001 -- a failed poll is retried; the streams stay open
                log.exception("streaming poll failed")
            await asyncio.sleep(POLL_SECONDS)

    async def _poll(self) -> None:
        fed = self.app[FED]
        async with fed.db.session() as session:
            entries = (
                await session.execute(
                    select(TimelineEntry.id, TimelineEntry.owner_id, TimelineEntry.via_actor_id, Object)
                    .join(Object, Object.id == TimelineEntry.object_id)
                    .where(TimelineEntry.id > self._marks["entry"])
                    .order_by(TimelineEntry.id)
                    .limit(500)
                )
            ).all()
            objects = list(
                (
                    await session.scalars(
                        select(Object).where(Object.id > self._marks["object"]).order_by(Object.id).limit(500)
                    )
                ).all()
            )
            notes = list(
                (
                    await session.scalars(
                        select(Notification)
                        .where(Notification.id > self._marks["notification"])
                        .order_by(Notification.id)
                        .limit(500)
                    )
                ).all()
            )
            if entries:
                self._marks["entry"] = entries[-1][0]
            if objects:
                self._marks["object"] = objects[-1].id
            if notes:
                self._marks["notification"] = notes[-1].id
            boosted = {o.reblog_of_id: o.attributed_to_id for o in objects if o.reblog_of_id}
            shown = [
                o
                for o in objects
                if o.reblog_of_id is None
                and o.deleted_at is None
                and o.type in POST_TYPES
                and (o.visibility == "public" or (o.visibility is None and o.public))
            ]
            public_for: dict[int | None, list[dict]] = {}  # viewer -> rendered public posts, once per poll
            for listener in list(self.listeners):
                await self._deliver(session, listener, entries, objects, notes, boosted, shown, public_for)

    async def _deliver(self, session, listener, entries, objects, notes, boosted, shown, public_for) -> None:
        fed = self.app[FED]
        renderer = Renderer(session, fed, listener.account)
        me = listener.account.id if listener.account else None
        if "user" in listener.streams and me is not None:
            mine = [
                o
                for _, owner, via, o in entries
                if owner == me
                and o.deleted_at is None
                and not (via is not None and via != o.attributed_to_id and boosted.get(o.id) == via)
            ]
            mine += [o for o in objects if o.attributed_to_id == me and o.deleted_at is None]
            seen: set[int] = set()
            for status in await renderer.statuses(sorted(mine, key=lambda o: o.id)):
                if status["id"] not in seen:
                    seen.add(status["id"])
                    listener.offer("user", "update", status)
        if me is not None and listener.streams & {"user", "user:notification"}:
            for item in await renderer.notifications([n for n in notes if n.owner_id == me]):
                listener.offer(
                    "user" if "user" in listener.streams else "user:notification", "notification", item
                )
        if shown and any(s.startswith("public") for s in listener.streams):
            if me not in public_for:
                public_for[me] = await renderer.statuses(shown)
            for status in public_for[me]:
                obj_local = status["account"]["acct"].count("@") == 0
                for stream in ("public", "public:local", "public:remote"):
                    if stream in listener.streams and (
                        stream == "public" or (stream == "public:local") == obj_local
                    ):
                        listener.offer(stream, "update", status)


HUB = web.AppKey("mastodon_streaming_hub", Hub)


async def _listener(caller: Caller, streams: set[str]) -> Listener:
    if streams & {"user", "user:notification"}:
        if caller.account is None:
            raise ApiError(401, "Error: Missing access token")
        if not covers(caller.scopes, "read:statuses") and not covers(caller.scopes, "read:notifications"):
            raise ApiError(403, "This action is outside the authorized scopes")
    return Listener(caller.account, streams)


async def _streaming_caller(request: web.Request, caller: Caller) -> Caller:
    if caller.token is None:
        protocol = request.headers.get("Sec-WebSocket-Protocol")
        found = await authenticate(request, protocol) if protocol else None
        if found is not None:
            return found
    return caller


def _stream_name(path_or_param: str) -> str | None:
    name = path_or_param.strip("/").replace("/", ":")
    return name if name in STREAMS else None


async def sse(request: web.Request, listener: Listener) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "Access-Control-Allow-Origin": "*",
        }
    )
    await response.prepare(request)
    hub.add(listener)  # before the greeting, so a client that has read it misses nothing
    await response.write(b":)\n")
    try:
        while True:
            try:
                item = await asyncio.wait_for(listener.queue.get(), HEARTBEAT_SECONDS)
            except asyncio.TimeoutError:
                await response.write(b":thump\n")
                continue
            if item is None:
                break
            stream, event, payload = item
            data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            await response.write(f"event: {event}\ndata: {data}\n\n".encode("utf-8"))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.remove(listener)
    return response


async def websocket(request: web.Request, caller: Caller, first: str | None) -> web.WebSocketResponse:
    hub = request.app[HUB]
    protocol = request.headers.get("Sec-WebSocket-Protocol")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, protocols=(protocol,) if protocol else ())
    await ws.prepare(request)
    listener = Listener(caller.account, set())
    if first:
        await _subscribe(ws, caller, listener, first)
    hub.add(listener)

    async def pump():
        while True:
            item = await listener.queue.get()
            if item is None:
                await ws.close()
                return
            stream, event, payload = item
            await ws.send_str(
                json.dumps(
                    {
                        "stream": stream.split(":") if ":" in stream else [stream],
                        "event": event,
                        "payload": json.dumps(payload, ensure_ascii=False),
                    }
                )
            )

    sender = asyncio.create_task(pump())
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                command = json.loads(message.data)
            except ValueError:
                continue
            name = _stream_name(str(command.get("stream", "")))
            if name is None:
                await ws.send_str(json.dumps({"error": "Unknown stream type", "status": 400}))
            elif command.get("type") == "subscribe":
                await _subscribe(ws, caller, listener, name)
            elif command.get("type") == "unsubscribe":
                listener.streams.discard(name)
    finally:
        sender.cancel()
        hub.remove(listener)
    return ws


async def _subscribe(ws, caller: Caller, listener: Listener, name: str) -> None:
    try:
        await _listener(caller, {name})
    except ApiError as error:
        await ws.send_str(json.dumps({"error": error.message, "status": error.status}))
        return
    listener.streams.add(name)


@endpoint(
    "GET", "/api/v1/streaming", summary="WebSocket (subscribe to user, public, public:local) or SSE ?stream="
)
async def streaming(request: web.Request, params: Params, caller: Caller):
    caller = await _streaming_caller(request, caller)
    first = _stream_name(params.str("stream") or "") if params.str("stream") else None
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket(request, caller, first)
    if first is None:
        raise ApiError(400, "Unknown stream type")
    return await sse(request, await _listener(caller, {first}))


@endpoint("GET", "/api/v1/streaming/health", summary="Whether streaming works")
async def health(request: web.Request, params: Params, caller: Caller):
    return web.Response(text="OK")


def _sse_endpoint(name: str):
    async def handler(request: web.Request, params: Params, caller: Caller):
        caller = await _streaming_caller(request, caller)
        return await sse(request, await _listener(caller, {name}))

    handler.__name__ = "stream_" + name.replace(":", "_")
    return handler


for _name in STREAMS:
    endpoint(
        "GET",
        "/api/v1/streaming/" + _name.replace(":", "/"),
        summary=f"The {_name} stream (server-sent events)",
        tag="streaming",
    )(_sse_endpoint(_name))


def setup(app: web.Application) -> None:
    app[HUB] = Hub(app)

    async def shutdown(app: web.Application) -> None:
        app[HUB].shutdown()

    async def close(app: web.Application) -> None:
        await app[HUB].close()

    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(close)
