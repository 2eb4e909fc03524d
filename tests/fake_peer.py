"""A minimal non-Interpeople fediverse server on a loopback port: one actor, WebFinger, and a scripted inbox."""
from __future__ import annotations

import asyncio
import json
import threading

from aiohttp import web

from federation.keys import new_rsa_keypair
from tests.harness import free_port


class FakePeer:
    """Serves actor `name`; its inbox answers `inbox_status` and records what it received."""

    def __init__(self, name: str = "someone", inbox_status: int = 202):
        self.name = name
        self.inbox_status = inbox_status
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.actor_id = f"{self.base_url}/users/{name}"
        self.public_pem, self.private_pem = new_rsa_keypair()
        self.received: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    @property
    def handle(self) -> str:
        return f"{self.name}@127.0.0.1:{self.port}"

    def actor_document(self) -> dict:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor_id, "type": "Person", "preferredUsername": self.name,
            "inbox": f"{self.actor_id}/inbox", "outbox": f"{self.actor_id}/outbox",
            "followers": f"{self.actor_id}/followers",
            "publicKey": {"id": f"{self.actor_id}#main-key", "owner": self.actor_id, "publicKeyPem": self.public_pem},
        }

    async def _webfinger(self, request: web.Request) -> web.Response:
        if request.query.get("resource") != f"acct:{self.handle}":
            return web.json_response({}, status=404)
        return web.json_response({"subject": f"acct:{self.handle}", "links": [
            {"rel": "self", "type": "application/activity+json", "href": self.actor_id}]})

    async def _actor(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.actor_document()), content_type="application/activity+json")

    async def _inbox(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({}, status=self.inbox_status)

    def start(self) -> "FakePeer":
        app = web.Application()
        app.router.add_get("/.well-known/webfinger", self._webfinger)
        app.router.add_get(f"/users/{self.name}", self._actor)
        app.router.add_post(f"/users/{self.name}/inbox", self._inbox)

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
