"""Outgoing HTTP: signed GETs of ActivityPub documents, with size, time and address limits."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AP_TYPES = ("application/activity+json", "application/ld+json")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
USER_AGENT = "Interpeople/0.1 (+https://codeberg.org/interpeople)"


class FetchError(Exception):
    """A fetch that failed; `status` is the peer's HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def address_allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address)
    if allow_private:
        return True
    return ip.is_global and not ip.is_multicast


class GuardedResolver(AbstractResolver):
    """Drops private, loopback and link-local answers unless the instance is in local-testing mode.

    Checking at resolution time (not before) closes the DNS-rebinding gap.
    """

    def __init__(self, allow_private: bool):
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if address_allowed(a["host"], self._allow_private)]
        if not allowed:
            raise OSError(f"{host} resolves only to private or reserved addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, allow_private: bool) -> None:
    """Refuses URLs we must never fetch: other schemes, plain HTTP off loopback, private IP literals."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")
    if parts.scheme == "http" and not allow_private:
        raise FetchError(f"plain http is refused outside local-testing mode: {url}")
    try:
        literal = ipaddress.ip_address(parts.hostname.split("%")[0])  # an IPv6 zone id does not hide fe80::
    except ValueError:
        return
    if not address_allowed(str(literal), allow_private):
        raise FetchError(f"refusing to fetch a private address: {url}")


def client_tls(ca_file: str = "") -> ssl.SSLContext:
    """The system's trusted CAs, plus the one in ca_file when given (a test CA for https on loopback)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@asynccontextmanager
async def get_checked(
    http: aiohttp.ClientSession,
    url: str,
    check: Callable[[str], None],
    headers_for: Callable[[str], dict],
    max_redirects: int = MAX_REDIRECTS,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET url, following at most max_redirects redirects and checking every hop before contacting it.

    `check` raises FetchError for a URL we must not contact (check_url with the instance's policy);
    `headers_for` gives each hop its own headers, so a signed GET is signed again for the new URL.
    Names are checked after resolution by GuardedResolver; IP literals never reach a resolver, so
    check_url must see every hop.
    """
    for _ in range(max_redirects + 1):
        check(url)
        async with http.get(url, headers=headers_for(url), allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                yield response
                return
            url = urljoin(str(response.url), location)
    raise FetchError(f"more than {max_redirects} redirects, the last to {url}")


def new_client_session(allow_private: bool, timeout: float, ca_file: str = "") -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private), limit=256, limit_per_host=8, ssl=client_tls(ca_file)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT},
    )


async def read_up_to(stream: aiohttp.StreamReader, size: int) -> bytes:
    """At most `size` bytes, reading until the end or that many (one read returns only what is buffered)."""
    chunks, got = [], 0
    while got < size:
        chunk = await stream.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise FetchError(f"response from {response.url} is larger than {limit} bytes")
    body = await read_up_to(response.content, limit + 1)
    if len(body) > limit:
        raise FetchError(f"response from {response.url} is larger than {limit} bytes")
    return body


class UnansweredHosts:
    """Hosts that let a fetch time out lately: they are not tried again for a while, so activities naming
    an unreachable server do not hold the inbox's processing slots for the whole fetch timeout each."""

    def __init__(self, pause: float):
        self.pause = pause
        self._until: dict[str, float] = {}

    def check(self, url: str) -> None:
        host = urlsplit(url).netloc
        until = self._until.get(host)
        if until is None:
            return
        left = until - time.monotonic()
        if left > 0:
            raise FetchError(f"{host} did not answer lately; not tried again for {left:.0f}s")
        del self._until[host]

    def timed_out(self, url: str) -> None:
        if len(self._until) > 10_000:  # many dead hosts: forget the oldest half rather than grow
            for host in sorted(self._until, key=self._until.get)[:5_000]:
                del self._until[host]
        self._until[urlsplit(url).netloc] = time.monotonic() + self.pause


def parse_json_document(body: bytes, url: str) -> dict:
    try:
        document = json.loads(body)
    except ValueError:
        raise FetchError(f"{url} did not return JSON") from None
    if not isinstance(document, dict):
        raise FetchError(f"{url} did not return a JSON object")
    return document
