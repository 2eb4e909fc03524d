"""SSRF through redirects: every hop of an outgoing fetch is checked (scheme, address) before it is contacted."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web

from federation.fetch import (
    FetchError,
    UnansweredHosts,
    check_url,
    get_checked,
    new_client_session,
    parse_json_document,
    read_limited,
)
from tests.harness import free_port


class RedirectingPeer:
    """A loopback server: /to?url=U redirects there, /chain/N redirects N times, /doc answers JSON;
    it records the paths and Signature headers it saw."""

    def __init__(self):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[str, str | None]] = []
        self.webfinger_to: str | None = None  # where WebFinger requests are sent
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path_qs, request.headers.get("Signature")))
        if request.path == "/.well-known/webfinger" and self.webfinger_to:
            raise web.HTTPFound(self.webfinger_to)
        if request.path == "/to":
            raise web.HTTPFound(request.query["url"])
        if request.path == "/big":  # a document near the fetch limit, sent in many chunks
            filler = "x" * int(request.query["bytes"])
            return web.json_response({"id": f"{self.base_url}/big", "type": "Note", "content": filler})
        if request.path.startswith("/chain/"):
            left = int(request.path.rsplit("/", 1)[1])
            raise web.HTTPFound(f"/chain/{left - 1}" if left > 0 else "/doc")
        return web.json_response({"id": f"{self.base_url}/doc", "type": "Note"})

    def start(self) -> "RedirectingPeer":
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture
def peer():
    started = RedirectingPeer().start()
    yield started
    started.stop()


def production_policy_except(prefix: str):
    """A public instance's check, with the test server (URLs starting with prefix) standing in for a public peer."""

    def check(url: str) -> None:
        if not url.startswith(prefix):
            check_url(url, allow_private=False)

    return check


async def _get(url: str, check) -> int:
    http = new_client_session(allow_private=True, timeout=5)  # the hop check, not the resolver, is under test
    try:
        async with get_checked(http, url, check, lambda hop: {}) as response:
            return response.status
    finally:
        await http.close()


@pytest.mark.parametrize(
    "target",
    [
        "https://127.0.0.1/admin",
        "https://[::1]/admin",
        "https://0.0.0.0/admin",
        "https://10.0.0.7/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1%25eth0]/",
        "http://example.org/plain-http",
        "file:///etc/passwd",
        "gopher://example.org/",
    ],
)
def test_a_redirect_to_a_forbidden_hop_is_refused_before_it_is_contacted(peer, target):
    with pytest.raises(FetchError):
        asyncio.run(_get(f"{peer.base_url}/to?url={target}", production_policy_except(peer.base_url + "/")))
    assert len(peer.seen) == 1  # only the first hop was asked


def test_a_redirect_back_to_loopback_is_refused_in_production(peer):
    """The loopback server redirects to itself: allowed as the first hop only, refused as the second."""
    again = f"http://127.0.0.1:{peer.port}/doc"
    with pytest.raises(FetchError, match="plain http|private"):
        asyncio.run(_get(f"{peer.base_url}/to?url={again}", production_policy_except(peer.base_url + "/to?")))
    assert [path for path, _ in peer.seen] == [f"/to?url={again}"]


def test_local_testing_follows_up_to_three_redirects_and_no_more(peer):
    local = lambda url: check_url(url, allow_private=True)  # noqa: E731
    assert asyncio.run(_get(f"{peer.base_url}/chain/2", local)) == 200
    peer.seen.clear()
    with pytest.raises(FetchError, match="more than 3 redirects"):
        asyncio.run(_get(f"{peer.base_url}/chain/3", local))
    assert len(peer.seen) == 4


def test_an_instance_signs_each_hop_for_its_own_url(instances, peer):
    """A local-testing instance fetches a post through a redirect: both hops carry a signature, made anew."""
    a = instances.new("a")
    a.movement("landrights")
    result = a.cli("reply", "landrights", f"{peer.base_url}/to?url={peer.base_url}/doc", "hi", check=False)
    hops = [(path, signature) for path, signature in peer.seen if path.startswith(("/to", "/doc"))]
    assert [p for p, _ in hops][:2] == [f"/to?url={peer.base_url}/doc", "/doc"]
    assert all(signature for _, signature in hops[:2])
    assert hops[0][1] != hops[1][1]  # each signature covers its own (request-target)
    assert result.code != 0  # the document's id is not the URL asked for: refused, as Mastodon does


@pytest.mark.parametrize(
    "target, refusal",
    [
        ("file:///etc/passwd", "not an http(s) URL: file:///etc/passwd"),
        ("/chain/3", "more than 3 redirects"),
    ],
)
def test_an_instance_refuses_a_bad_redirect_with_one_line(instances, peer, target, refusal):
    """Following someone whose WebFinger redirects off limits (another scheme, too many hops) fails clearly."""
    a = instances.new("a", start=False)
    a.movement("landrights")
    peer.webfinger_to = target
    result = a.cli("follow", "landrights", f"someone@127.0.0.1:{peer.port}", check=False)
    assert result.code != 0 and refusal in result.err
    assert result.err.count("\n") == 1


async def _read(url: str, limit: int) -> dict:
    http = new_client_session(allow_private=True, timeout=5)
    try:
        async with get_checked(http, url, lambda hop: None, lambda hop: {}) as response:
            return parse_json_document(await read_limited(response, limit), url)
    finally:
        await http.close()


def test_a_document_near_the_limit_is_read_whole_not_only_its_first_chunk(peer):
    document = asyncio.run(_read(f"{peer.base_url}/big?bytes=900000", 1_000_000))
    assert len(document["content"]) == 900_000


def test_a_document_over_the_limit_is_refused(peer):
    with pytest.raises(FetchError, match="larger than"):
        asyncio.run(_read(f"{peer.base_url}/big?bytes=1100000", 1_000_000))


def test_a_host_that_let_a_fetch_time_out_is_not_tried_again_for_a_while():
    hosts = UnansweredHosts(pause=60)
    hosts.timed_out("https://dead.example/actors/a")
    with pytest.raises(FetchError, match="did not answer lately"):
        hosts.check("https://dead.example/objects/1")
    hosts.check("https://alive.example/objects/1")  # other hosts are tried
    hosts.pause = 0
    hosts.timed_out("https://slow.example/a")
    hosts.check("https://slow.example/a")  # the pause is over
