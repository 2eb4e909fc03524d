"""Fast tests of the delivery client against a scripted loopback server: answers of every framing,
kept-alive connections, peers closing them, timeouts, and the address checks."""

import asyncio
import time

import pytest

from federation.delivery_client import DeliveryClient, Target, parse_head, target_of
from federation.fetch import FetchError


class Scripted:
    """A loopback server: each request gets the next scripted answer (bytes, or None: never answer);
    `pieces` > 1 sends it a few bytes at a time; `close_after` closes the connection after answering."""

    def __init__(self, answers, pieces: int = 1, close_after: bool = False):
        self.answers = list(answers)
        self.pieces = pieces
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    [
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ][0]
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if answer is None:
                    await asyncio.sleep(60)
                step = max(1, len(answer) // self.pieces)
                for start in range(0, len(answer), step):
                    writer.write(answer[start : start + step])
                    await writer.drain()
                    await asyncio.sleep(0)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/inbox"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


async def post(client: DeliveryClient, url: str, body: bytes = b'{"type": "Create"}'):
    target = target_of(url, True)
    return await client.post(target, client.request_bytes(target, {"date": "now", "digest": "d"}, body))


OK = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"


def run(coroutine):
    return asyncio.run(coroutine)


def test_two_posts_to_one_host_share_one_kept_alive_connection():
    async def story():
        async with Scripted([OK, OK]) as peer:
            client = DeliveryClient(True, 5, 4)
            first, second = await post(client, peer.url), await post(client, peer.url)
            client.close()
            return first.status, second.status, peer.connections, peer.requests

    first, second, connections, requests = run(story())
    assert (first, second, connections) == (202, 202, 1)
    assert requests[0].startswith(b"POST /inbox HTTP/1.1\r\nHost: 127.0.0.1:")
    assert requests[0].endswith(b'\r\n\r\n{"type": "Create"}') and b"Content-Length: 18\r\n" in requests[0]


def test_a_chunked_refusal_is_read_whole_and_its_text_kept():
    answer = (
        b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nnot \r\n7;x=y\r\nwelcome\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )

    async def story():
        async with Scripted([answer, OK], pieces=9) as peer:
            client = DeliveryClient(True, 5, 4)
            refused, accepted = await post(client, peer.url), await post(client, peer.url)
            client.close()
            return refused, accepted.status, peer.connections

    refused, accepted, connections = run(story())
    assert (refused.status, refused.body, accepted, connections) == (403, b"not welcome", 202, 1)


def test_an_answer_arriving_a_byte_at_a_time_is_read():
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow"

    async def story():
        async with Scripted([answer], pieces=len(answer)) as peer:
            client = DeliveryClient(True, 5, 4)
            result = await post(client, peer.url)
            client.close()
            return result

    result = run(story())
    assert (result.status, result.headers["retry-after"], result.body, result.keep_alive) == (
        429,
        "7",
        b"slow",
        True,
    )


def test_an_informational_answer_is_skipped():
    async def story():
        async with Scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + OK]) as peer:
            client = DeliveryClient(True, 5, 4)
            result = await post(client, peer.url)
            client.close()
            return result.status

    assert run(story()) == 202


def test_a_connection_the_peer_closes_is_not_reused():
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async def story():
        async with Scripted([answer, answer], close_after=True) as peer:
            client = DeliveryClient(True, 5, 4)
            results = [(await post(client, peer.url)).status for _ in range(2)]
            client.close()
            return results, peer.connections

    assert run(story()) == ([200, 200], 2)


def test_a_body_ending_with_the_connection_is_read():
    async def story():
        async with Scripted([b"HTTP/1.0 500 Oops\r\n\r\nbroken"], close_after=True) as peer:
            client = DeliveryClient(True, 5, 4)
            result = await post(client, peer.url)
            client.close()
            return result

    result = run(story())
    assert (result.status, result.body, result.keep_alive) == (500, b"broken", False)


def test_an_idle_connection_the_peer_dropped_is_replaced_once():
    async def story():
        async with Scripted([OK, OK], close_after=True) as peer:  # closes after each answer, silently
            client = DeliveryClient(True, 5, 4)
            first = await post(client, peer.url)
            await asyncio.sleep(0.1)
            second = await post(client, peer.url)
            client.close()
            return first.status, second.status, peer.connections

    assert run(story()) == (202, 202, 2)


def test_a_peer_that_never_answers_times_out():
    async def story():
        async with Scripted([None]) as peer:
            client = DeliveryClient(True, 0.5, 4)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await post(client, peer.url)
            client.close()
            return time.monotonic() - started

    assert 0.4 < run(story()) < 2


def test_a_port_nobody_listens_on_is_a_connection_error():
    async def story():
        async with Scripted([]) as peer:
            url = peer.url
        client = DeliveryClient(True, 5, 4)
        with pytest.raises(OSError):
            await post(client, url)

    run(story())


@pytest.mark.parametrize(
    "url",
    [
        "http://peer.example/inbox",
        "https://127.0.0.1/inbox",
        "https://[::1]/inbox",
        "https://10.0.0.8/inbox",
        "ftp://peer.example/inbox",
    ],
)
def test_inboxes_we_must_never_call_are_refused_outside_local_testing(url):
    with pytest.raises(FetchError):
        target_of(url, False)


def test_a_host_name_resolving_to_loopback_is_refused_outside_local_testing():
    async def story():
        client = DeliveryClient(False, 5, 4)
        with pytest.raises(OSError, match="private or reserved"):
            await client.post(
                Target(("https", "localhost", 443), "localhost", 443, True, "localhost", "/inbox"), b""
            )

    run(story())


def test_a_target_keeps_the_path_query_and_host_header():
    target = target_of("https://peer.example:8443/users/a/inbox?x=1", False)
    assert (target.key, target.tls, target.host_header, target.path) == (
        ("https", "peer.example", 8443),
        True,
        "peer.example:8443",
        "/users/a/inbox?x=1",
    )


def test_a_head_is_parsed_for_status_and_the_headers_delivery_reads():
    status, headers, keep_alive = parse_head(
        b"HTTP/1.1 503 Busy\r\nretry-after: Wed, 02 Dec 2026 03:01:30 GMT\r\nConnection: close\r\nX-Other: 1"
    )
    assert (status, headers, keep_alive) == (
        503,
        {"retry-after": "Wed, 02 Dec 2026 03:01:30 GMT", "connection": "close"},
        False,
    )
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive")[2] is True
    assert parse_head(b"HTTP/1.0 200 OK")[2] is False


@pytest.mark.parametrize("head", [b"SSH-2.0-OpenSSH", b"HTTP/1.1 abc", b"HTTP/2 200"])
def test_an_answer_that_is_not_http_1_is_an_error(head):
    with pytest.raises(ConnectionError):
        parse_head(head)
