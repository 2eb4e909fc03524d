"""A follower that is not Interpeople: a minimal Mastodon-like server that only understands Announce, Create
and Note (and shows a Page as its title and link, as Mastodon does) reads a space's threads and replies."""

import asyncio
import base64
import hashlib
import json
import threading
import uuid
from email.utils import formatdate
from urllib.parse import urlsplit

import requests
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.harness import free_port, wait_for

AP = "application/activity+json"


def signing_string(method: str, path: str, headers: dict, names: list[str]) -> bytes:
    lines = [
        f"(request-target): {method.lower()} {path}" if n == "(request-target)" else f"{n}: {headers[n]}"
        for n in names
    ]
    return "\n".join(lines).encode()


class MiniMastodon:
    """One account, `alice`, whose inbox verifies HTTP signatures and keeps a readable home timeline."""

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.actor = f"{self.base}/users/alice"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.home: list[dict] = []
        self.refused: list[str] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self):
        app = web.Application()
        app.router.add_get("/.well-known/webfinger", self.webfinger)
        app.router.add_get("/users/alice", self.person)
        app.router.add_post("/users/alice/inbox", self.inbox)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def close(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def webfinger(self, request):
        return web.json_response(
            {
                "subject": f"acct:alice@127.0.0.1:{self.port}",
                "links": [{"rel": "self", "type": AP, "href": self.actor}],
            }
        )

    async def person(self, request):
        pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        return web.json_response(
            {
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": self.actor,
                "type": "Person",
                "preferredUsername": "alice",
                "inbox": f"{self.actor}/inbox",
                "publicKey": {"id": f"{self.actor}#main-key", "owner": self.actor, "publicKeyPem": pem},
            },
            content_type=AP,
        )

    def _fetch(self, url: str) -> dict:
        return requests.get(url, headers={"Accept": AP}, timeout=5).json()

    def _verify(self, request, body: bytes) -> str:
        fields = dict(part.split("=", 1) for part in request.headers["Signature"].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        names = fields["headers"].split()
        assert {"(request-target)", "host", "date", "digest"} <= set(names)
        assert (
            request.headers["Digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        )
        owner = self._fetch(fields["keyId"].split("#")[0])
        public = serialization.load_pem_public_key(owner["publicKey"]["publicKeyPem"].encode())
        headers = {k.lower(): v for k, v in request.headers.items()}
        public.verify(
            base64.b64decode(fields["signature"]),
            signing_string("post", request.path_qs, headers, names),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        return owner["id"]

    async def inbox(self, request):
        body = await request.read()
        try:
            signer = await asyncio.to_thread(self._verify, request, body)
        except Exception as error:  # noqa: BLE001
            self.refused.append(repr(error))
            return web.Response(status=401)
        activity = json.loads(body)
        if activity["actor"] != signer:
            return web.Response(status=401)
        if activity["type"] == "Announce" and isinstance(activity["object"], str):
            obj = await asyncio.to_thread(self._fetch, activity["object"])
            self._show(obj, boosted_by=signer)
        elif activity["type"] == "Create" and isinstance(activity["object"], dict):
            self._show(activity["object"], boosted_by=None)
        return web.Response(status=202)  # anything else, Announce{Create} included, is ignored

    def _show(self, obj: dict, boosted_by):
        if obj.get("type") == "Note":
            self.home.append({"id": obj["id"], "text": obj["content"], "boosted_by": boosted_by})
        elif obj.get("type") in ("Page", "Article"):  # Mastodon: the title and a link
            self.home.append(
                {"id": obj["id"], "text": f"{obj['name']} {obj['url']}", "boosted_by": boosted_by}
            )

    def follow(self, target: str):
        actor = self._fetch(target)
        body = json.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{self.base}/{uuid.uuid4()}",
                "type": "Follow",
                "actor": self.actor,
                "object": target,
            }
        ).encode()
        parts = urlsplit(actor["inbox"])
        headers = {
            "host": parts.netloc,
            "date": formatdate(usegmt=True),
            "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
        }
        names = ["(request-target)", "host", "date", "digest"]
        signature = base64.b64encode(
            self.key.sign(
                signing_string("post", parts.path, headers, names), padding.PKCS1v15(), hashes.SHA256()
            )
        ).decode()
        headers["signature"] = (
            f'keyId="{self.actor}#main-key",algorithm="rsa-sha256",'
            f'headers="{" ".join(names)}",signature="{signature}"'
        )
        return requests.post(actor["inbox"], data=body, headers={**headers, "content-type": AP}, timeout=10)


def test_mastodon_like_follower_reads_threads_and_replies(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("forum")
    space = a.cli("space", "create", "assembly", "--name", "Assembly", "--movement", "forum").out.strip()
    b.movement("water")
    b.cli("space", "join", "water", a.handle("assembly"))
    mastodon = MiniMastodon()
    try:
        assert mastodon.follow(space).status_code == 202
        thread = b.cli(
            "space", "post", "water", a.handle("assembly"), "--title", "River day", "Join us"
        ).out.strip()
        local_thread = a.cli(
            "space", "post", "forum", a.handle("assembly"), "--title", "Budget", "Numbers"
        ).out.strip()
        answer = b.cli("reply", "water", local_thread, "We can give *two* boats").out.strip()
        home = wait_for(
            lambda: len(mastodon.home) >= 3 and mastodon.home, what="posts in the Mastodon-like home"
        )
        by_id = {item["id"]: item for item in home}
        assert "<em>two</em> boats" in by_id[answer]["text"] and by_id[answer]["boosted_by"] == space
        assert by_id[thread]["text"].startswith("River day http://") and by_id[thread]["boosted_by"] == space
        assert by_id[local_thread]["text"].startswith("Budget ")
        assert not mastodon.refused
    finally:
        mastodon.close()
