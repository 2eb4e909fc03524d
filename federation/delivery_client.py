"""A lean HTTP/1.1 client for delivery POSTs: one write per request, keep-alive connections per host,
the same address checks as fetches (every resolved address) and TLS with certificate and host name checks."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from federation.fetch import USER_AGENT, address_allowed, check_url, client_tls

ERROR_TEXT = 300  # bytes of an answer's body kept for the error message
MAX_BODY = 64 * 1024  # a longer answer is cut off and its connection closed
IDLE_SECONDS = 60.0  # an idle connection is not reused after this (nginx closes its own after 75 s)
MAX_IDLE_TOTAL = 4096  # idle connections kept across all hosts
TIMEOUT_STEP = 0.25  # how often late answers are looked for (s)


class AnswerError(ConnectionError):
    """The peer's answer could not be read (closed early, or not HTTP/1.x)."""


@dataclass(frozen=True)
class Target:
    """Where a URL's request goes: the connection key, and what the request line and Host header say."""

    key: tuple[str, str, int]
    hostname: str
    port: int
    tls: bool
    host_header: str
    path: str
    literal: str | None = None  # the host as an IP address (already checked by check_url), if it is one


_targets: dict[tuple[str, bool], Target] = {}


def target_of(url: str, allow_private: bool) -> Target:
    """Splits (and checks, with fetch.check_url) a URL once; later calls for the same URL are a dict lookup.
    Raises FetchError for a URL we must never call."""
    cached = _targets.get((url, allow_private))
    if cached is not None:
        return cached
    check_url(url, allow_private)
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        literal = str(ipaddress.ip_address(parts.hostname))
    except ValueError:
        literal = None
    target = Target(
        (parts.scheme, parts.hostname, port), parts.hostname, port, tls, parts.netloc, path, literal
    )
    if len(_targets) >= 16384:
        _targets.clear()
    _targets[url, allow_private] = target
    return target


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # the headers delivery reads (WANTED), by lower-case name; the first of repeats
    body: bytes  # at most ERROR_TEXT bytes
    keep_alive: bool


WANTED = ("content-length", "transfer-encoding", "connection", "retry-after")
_NEEDLES = [(name, f"\r\n{name}:".encode()) for name in WANTED]


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, the WANTED headers and whether the connection stays open, from a response head (without
    the blank line). Looks the few headers up in the lower-cased head rather than splitting every line."""
    line_end = head.find(b"\r\n")
    line = head if line_end < 0 else head[:line_end]
    if not line.startswith(b"HTTP/1.") or len(line) < 12 or line[8:9] != b" ":
        raise AnswerError(f"not an HTTP/1.x answer: {line[:80]!r}")
    try:
        status = int(line[9:12])
    except ValueError:
        raise AnswerError(f"unreadable status line: {line[:80]!r}") from None
    headers = {}
    if line_end >= 0:
        lower = head.lower()
        for name, needle in _NEEDLES:
            start = lower.find(needle)
            if start >= 0:
                start += len(needle)
                end = head.find(b"\r\n", start)
                headers[name] = head[start : end if end >= 0 else None].strip().decode("latin-1")
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if line[5:8] == b"1.0" else "close" not in connection
    return status, headers, keep_alive


class Connection(asyncio.Protocol):
    """One connection to a host; answers one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received_any = False
        self.idle_since = 0.0
        self.deadline = 0.0  # monotonic time by which the current answer must be complete
        self._buffer = bytearray()
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: dict[str, str] = {}
        self._keep_alive = True
        self._body = bytearray()
        self._remaining = -1  # body bytes still due; -1: chunked or until close
        self._chunked = False
        self._chunk_left = 0  # bytes left in the current chunk (+2 for its CRLF), 0: a size line is due
        self._in_head = True

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if not self._in_head and self._remaining == -1 and not self._chunked:
            self._finish(False)  # a body delimited by the end of the connection
        else:
            waiter.set_exception(
                AnswerError(f"connection closed before the answer was complete ({exc or 'EOF'})")
            )

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked: a peer talking out of turn is not reused
            self.close()
            return
        self.received_any = True
        if self._in_head and not self._buffer and self._whole(data):
            return
        self._buffer += data
        try:
            self._parse()
        except AnswerError as error:
            if not self._waiter.done():
                self._waiter.set_exception(error)
            self.close()

    # ------------------------------------------------------------ parsing

    def _whole(self, data: bytes) -> bool:
        """The common case in one step: a whole answer with a Content-Length in one read. False otherwise."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        try:
            status, headers, keep_alive = parse_head(data[:end])
            length = int(headers["content-length"])
        except (AnswerError, KeyError, ValueError):
            return False
        if status < 200 or "transfer-encoding" in headers or len(data) != end + 4 + length:
            return False
        waiter, self._waiter = self._waiter, None
        waiter.set_result(
            Answer(status, headers, data[end + 4 : end + 4 + ERROR_TEXT], keep_alive and not self.closed)
        )
        return True

    def _parse(self) -> None:
        while self._waiter is not None and not self._waiter.done():
            if self._in_head:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_BODY:
                        raise AnswerError("answer head too long")
                    return
                status, headers, keep_alive = parse_head(bytes(self._buffer[:end]))
                del self._buffer[: end + 4]
                if 100 <= status < 200:  # informational: the real answer follows
                    continue
                self._status, self._headers, self._keep_alive, self._in_head = (
                    status,
                    headers,
                    keep_alive,
                    False,
                )
                if status in (204, 304):
                    self._remaining = 0
                elif "chunked" in headers.get("transfer-encoding", "").lower():
                    self._chunked = True
                elif "content-length" in headers:
                    try:
                        self._remaining = int(headers["content-length"])
                    except ValueError:
                        raise AnswerError("unreadable Content-Length") from None
                else:
                    self._keep_alive = False  # read until the peer closes
            elif self._chunked:
                if not self._parse_chunk():
                    return
            else:
                take = len(self._buffer) if self._remaining < 0 else min(self._remaining, len(self._buffer))
                self._keep(self._buffer[:take])
                del self._buffer[:take]
                if self._remaining >= 0:
                    self._remaining -= take
                    if self._remaining == 0:
                        self._finish(self._keep_alive)
                        return
                if len(self._body) >= MAX_BODY:
                    self._finish(False)
                return

    def _parse_chunk(self) -> bool:
        """Consumes what it can of a chunked body; False when more bytes are needed."""
        if self._chunk_left == 0:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return False
            try:
                size = int(bytes(self._buffer[:end]).split(b";")[0].strip(), 16)
            except ValueError:
                raise AnswerError("unreadable chunk size") from None
            if size == 0:  # the last chunk: trailers end with an empty line
                if self._buffer[end + 2 : end + 4] == b"\r\n":
                    del self._buffer[: end + 4]
                else:
                    trailer_end = self._buffer.find(b"\r\n\r\n", end)
                    if trailer_end < 0:
                        return False
                    del self._buffer[: trailer_end + 4]
                self._finish(self._keep_alive)
                return True
            del self._buffer[: end + 2]
            self._chunk_left = size + 2
        take = min(self._chunk_left, len(self._buffer))
        self._keep(self._buffer[: max(0, min(take, self._chunk_left - 2))])
        del self._buffer[:take]
        self._chunk_left -= take
        if len(self._body) >= MAX_BODY:
            self._finish(False)
            return True
        return self._chunk_left == 0

    def _keep(self, data) -> None:
        self._body += data[: max(0, MAX_BODY - len(self._body))]

    def _finish(self, keep_alive: bool) -> None:
        answer = Answer(
            self._status,
            self._headers,
            bytes(self._body[:ERROR_TEXT]),
            keep_alive and not self.closed and not self._buffer,
        )
        waiter, self._waiter = self._waiter, None
        self._reset()
        waiter.set_result(answer)

    # ------------------------------------------------------------ use

    async def request(self, data: bytes) -> Answer:
        self._waiter = asyncio.get_running_loop().create_future()
        self.received_any = False
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def expire(self) -> None:
        """The answer did not come in time: the request fails with TimeoutError and the connection goes."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError("no answer in time"))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class DeliveryClient:
    """POSTs over kept-alive connections, at most `per_host` idle ones kept per host."""

    def __init__(self, allow_private: bool, timeout: float, per_host: int, ca_file: str = ""):
        self.allow_private = allow_private
        self.ca_file = ca_file  # an extra trusted CA (tls_ca_file), as for fetches
        self.timeout = timeout
        self.per_host = per_host
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._idle_count = 0
        self._last_sweep = time.monotonic()
        self._tls: ssl.SSLContext | None = None
        self._busy: set[Connection] = set()  # connections waiting for an answer
        self._sweeper: asyncio.TimerHandle | None = None

    def request_bytes(self, target: Target, headers: dict[str, str], body: bytes) -> bytes:
        """The whole request: line, Host, the given headers, Content-Length, User-Agent, then the body."""
        lines = [
            f"POST {target.path} HTTP/1.1",
            f"Host: {target.host_header}",
            f"User-Agent: {USER_AGENT}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items() if name != "host"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def post(self, target: Target, data: bytes) -> Answer:
        """Sends a request made by request_bytes and reads the answer, within the timeout (checked by one
        timer for all requests, every TIMEOUT_STEP). Raises OSError (AnswerError and TimeoutError included)."""
        deadline = time.monotonic() + self.timeout
        connection = self._take_idle(target.key)
        if connection is not None:
            try:
                return self._done(target, connection, await self._request(connection, data, deadline))
            except ConnectionError:
                connection.close()
                if connection.received_any:
                    raise
                # the peer had closed the idle connection: once more, on a new one
            except BaseException:
                connection.close()
                raise
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                connection = await self._connect(target)
        except asyncio.TimeoutError:
            raise TimeoutError(f"cannot connect to {target.hostname} in time") from None
        try:
            return self._done(target, connection, await self._request(connection, data, deadline))
        except BaseException:
            connection.close()
            raise

    async def _request(self, connection: Connection, data: bytes, deadline: float) -> Answer:
        connection.deadline = deadline
        self._busy.add(connection)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(TIMEOUT_STEP, self._expire_late)
        try:
            return await connection.request(data)
        finally:
            self._busy.discard(connection)

    def _expire_late(self) -> None:
        """The one timer: fails requests past their deadline; runs while any request is out."""
        now = time.monotonic()
        for connection in [c for c in self._busy if c.deadline <= now]:
            connection.expire()
        self._sweeper = (
            asyncio.get_running_loop().call_later(TIMEOUT_STEP, self._expire_late) if self._busy else None
        )

    def _done(self, target: Target, connection: Connection, answer: Answer) -> Answer:
        if answer.keep_alive and not connection.closed:
            self._put_idle(target.key, connection)
        else:
            connection.close()
        return answer

    # ------------------------------------------------------------ connections

    def _take_idle(self, key) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    def _put_idle(self, key, connection: Connection) -> None:
        now = time.monotonic()
        if now - self._last_sweep > IDLE_SECONDS / 3:
            self._sweep(now)
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.per_host or self._idle_count >= MAX_IDLE_TOTAL:
            connection.close()
            return
        connection.idle_since = now
        idle.append(connection)
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Closes connections idle for too long (and forgets closed ones)."""
        self._last_sweep = now
        for key in list(self._idle):
            keep = []
            for connection in self._idle[key]:
                if connection.closed or now - connection.idle_since >= IDLE_SECONDS:
                    connection.close()
                else:
                    keep.append(connection)
            self._idle_count -= len(self._idle[key]) - len(keep)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    async def _addresses(self, target: Target) -> list[str]:
        """The host's addresses we may connect to (all of them checked, as fetch's GuardedResolver does)."""
        if target.literal is not None:
            return [target.literal]  # checked once, in target_of
        try:
            literal = ipaddress.ip_address(target.hostname)
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.hostname, target.port, type=socket.SOCK_STREAM
            )
            addresses = list(dict.fromkeys(info[4][0] for info in infos))
        else:
            addresses = [str(literal)]
        allowed = [a for a in addresses if address_allowed(a, self.allow_private)]
        if not allowed:
            raise OSError(f"{target.hostname} resolves only to private or reserved addresses")
        return allowed

    async def _connect(self, target: Target) -> Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if target.tls:
            if self._tls is None:
                self._tls = client_tls(self.ca_file)  # certificate and host name checked
            tls = self._tls
        failure: OSError | None = None
        for address in await self._addresses(target):
            try:
                _, connection = await loop.create_connection(
                    Connection,
                    address,
                    target.port,
                    ssl=tls,
                    server_hostname=target.hostname if tls else None,
                )
                return connection
            except OSError as error:
                failure = error
        raise failure or OSError(f"cannot connect to {target.hostname}")

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in list(self._busy):
            connection.expire()
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
