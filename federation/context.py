"""The federation context: settings, database, HTTP client and caches one instance shares."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

import aiohttp
from sqlalchemy import select

from federation.fetch import (
    AP_ACCEPT,
    AP_TYPES,
    FetchError,
    UnansweredHosts,
    check_url,
    get_checked,
    new_client_session,
    parse_json_document,
    read_limited,
)
from federation.keys import secret_for
from federation.settings import Settings
from federation.signatures import sign_request
from federation.urls import INSTANCE_ACTOR, Urls
from models import Actor, Database, Key
from models.actor import newest_private_key

UNANSWERED_PAUSE = 60.0  # seconds a host whose fetch timed out is not tried again

if TYPE_CHECKING:  # bovine loads at first use (it costs ~37 MB)
    from bovine.crypto.types import CryptographicSecret

log = logging.getLogger(__name__)


class Federation:
    """Everything protocol code needs about the running instance, created once per process."""

    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.urls = Urls(settings.base_url)
        self._http: aiohttp.ClientSession | None = None
        self.unanswered = UnansweredHosts(UNANSWERED_PAUSE)
        self._instance_secret: CryptographicSecret | None = None
        self._keys = None
        self.deliveries_queued = asyncio.Event()

    @property
    def keys(self):
        """Remote actors' public keys by key id, cached for the whole process (federation.actors.KeyCache)."""
        if self._keys is None:
            from federation.actors import KeyCache  # actors builds on this module

            self._keys = KeyCache(self)
        return self._keys

    @property
    def allow_private(self) -> bool:
        return self.settings.local_testing

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = new_client_session(
                self.allow_private, self.settings.fetch_timeout, self.settings.tls_ca_file
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def private_key_of(self, actor_id: int, kind: str = "rsa") -> Key:
        """A local actor's newest key row of that kind that holds a private key (as stored: PEM or multibase)."""
        async with self.db.session() as session:
            key = await newest_private_key(session, actor_id, kind)
        if key is None:
            raise LookupError(f"actor {actor_id} has no private {kind} key")
        return key

    async def secret_of(self, actor_id: int, kind: str = "rsa") -> CryptographicSecret:
        key = await self.private_key_of(actor_id, kind)
        return secret_for(key.uri, key.private, kind)

    async def instance_secret(self) -> CryptographicSecret:
        if self._instance_secret is None:
            async with self.db.session() as session:
                actor_id = await session.scalar(
                    select(Actor.id).where(Actor.local.is_(True), Actor.username == INSTANCE_ACTOR)
                )
            if actor_id is None:
                raise LookupError("instance actor missing: was `interpeople init` run?")
            self._instance_secret = await self.secret_of(actor_id)
        return self._instance_secret

    async def fetch(self, url: str, accept: str = AP_ACCEPT, signed: bool = True) -> tuple[bytes, str]:
        """GET url within the limits (size, time, address); returns body and content type."""
        check_url(url, self.allow_private)
        self.unanswered.check(url)
        secret = await self.instance_secret() if signed else None

        def headers_for(hop: str) -> dict:  # each hop signed for its own URL
            return sign_request("get", hop, secret, accept=accept) if secret else {"accept": accept}

        try:
            async with get_checked(
                self.http, url, lambda hop: check_url(hop, self.allow_private), headers_for
            ) as response:
                if response.status >= 400:
                    raise FetchError(f"{url} answered {response.status}", response.status)
                body = await read_limited(response, self.settings.max_fetch_bytes)
                return body, response.headers.get("content-type", "")
        except FetchError:
            raise
        except asyncio.TimeoutError:
            self.unanswered.timed_out(url)
            raise FetchError(f"{url} did not answer within {self.settings.fetch_timeout:.0f}s") from None
        except (aiohttp.ClientError, OSError) as error:
            raise FetchError(f"cannot reach {url}: {error}") from None

    async def fetch_document(self, url: str) -> dict:
        """An ActivityPub document, whose id must be the URL asked for (without fragment)."""
        url = urldefrag(url)[0]
        body, content_type = await self.fetch(url)
        if content_type.split(";")[0].strip().lower() not in AP_TYPES:
            raise FetchError(f"{url} is not an ActivityPub document ({content_type or 'no content type'})")
        document = parse_json_document(body, url)
        if document.get("id") != url:
            raise FetchError(f"{url} returned a document whose id is {document.get('id')!r}")
        return document
