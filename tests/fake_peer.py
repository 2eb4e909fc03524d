"""A minimal non-Interpeople fediverse server on a loopback port: a few actors, WebFinger, scripted inboxes."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter

from aiohttp import web
from multidict import CIMultiDict

from federation.keys import new_rsa_keypair
from tests.harness import free_port
from tests.signing import signed_post


class FakePeer:
    """Serves the actors `names` (the first is the main one); inboxes answer `inbox_status` and record
    what they received. With shared_inbox, actors advertise one shared inbox, as Mastodon does."""

    def __init__(self, *names: str, inbox_status: int = 202, shared_inbox: bool = False):
        self.names = names or ("someone",)
        self.name = self.names[0]
        self.inbox_status = inbox_status
        self.shared_inbox = shared_inbox
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.actor_id = self.actor(self.name)
        self.keys = {name: new_rsa_keypair() for name in self.names}
        self.public_pem, self.private_pem = self.keys[self.name]
        self.received: list[dict] = []
        self.inbox_paths: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    def actor(self, name: str) -> str:
        return f"{self.base_url}/users/{name}"

    @property
    def handle(self) -> str:
        return f"{self.name}@127.0.0.1:{self.port}"

    def actor_document(self, name: str) -> dict:
        actor_id = self.actor(name)
        document = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_id,
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{actor_id}/inbox",
            "outbox": f"{actor_id}/outbox",
            "followers": f"{actor_id}/followers",
            "publicKey": {
                "id": f"{actor_id}#main-key",
                "owner": actor_id,
                "publicKeyPem": self.keys[name][0],
            },
        }
        if self.shared_inbox:
            document["endpoints"] = {"sharedInbox": f"{self.base_url}/inbox"}
        return document

    def follow(self, name: str, target: str, inbox: str):
        """Sends a signed Follow from actor `name` to `target` (whose inbox is `inbox`)."""
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": f"{self.base_url}/follows/{uuid.uuid4()}",
            "actor": self.actor(name),
            "object": target,
        }
        response = signed_post(inbox, follow, (f"{self.actor(name)}#main-key", self.keys[name][1]))
        return follow, response

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        for name in self.names:
            if resource == f"acct:{name}@127.0.0.1:{self.port}":
                return web.json_response(
                    {
                        "subject": resource,
                        "links": [
                            {"rel": "self", "type": "application/activity+json", "href": self.actor(name)}
                        ],
                    }
                )
        return web.json_response({}, status=404)

    async def _actor(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.keys:
            return web.json_response({}, status=404)
        return web.Response(
            text=json.dumps(self.actor_document(name)), content_type="application/activity+json"
        )

    async def _inbox(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        self.inbox_paths.append(request.path)
        return web.json_response({}, status=self.inbox_status)

    def start(self) -> "FakePeer":
        app = web.Application()
        app.router.add_get("/.well-known/webfinger", self._webfinger)
        app.router.add_get("/users/{name}", self._actor)
        app.router.add_post("/users/{name}/inbox", self._inbox)
        app.router.add_post("/inbox", self._inbox)

        async def boot():
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


class ManyHosts:
    """One thread answering 202 on many loopback ports, each a host with a shared inbox at /inbox.
    Keeps every request (host, path, headers, body) and a count of the activity types received."""

    def __init__(self, count: int):
        self.ports: list[int] = []
        self.received: list[tuple[str, str, CIMultiDict, bytes]] = []
        self.types: Counter = Counter()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(count), self.loop).result(30)

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((request.host, request.path_qs, CIMultiDict(request.headers), body))
        self.types[json.loads(body).get("type")] += 1
        return web.Response(status=202)

    async def _start(self, count: int) -> None:
        app = web.Application()
        app.router.add_post("/inbox", self._inbox)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        for _ in range(count):
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.ports.append(site._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
