"""HTTP Signatures as Mastodon sends and checks them (draft-cavage, rsa-sha256 / hs2019).

Bovine parses Signature headers and holds the keys; this module builds the signing strings and
applies Mastodon's rules: which headers must be covered, the Date window, and the Digest check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping
from urllib.parse import urlsplit

if TYPE_CHECKING:  # bovine loads at first use (it costs a process ~37 MB)
    from bovine.crypto.signature import Signature
    from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

KeyLookup = Callable[[str, bool], Awaitable["CryptographicIdentifier | None"]]


class SignatureError(Exception):
    """A request whose signature does not hold; `status` is the HTTP answer to give."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


_now_date: tuple[int, str] = (0, "")  # the current second and its HTTP date: a fan-out shares one Date


def http_date(moment: dt.datetime | None = None) -> str:
    global _now_date
    if moment is not None:
        return format_datetime(moment, usegmt=True)
    second = int(time.time())
    if _now_date[0] != second:
        _now_date = (second, format_datetime(dt.datetime.fromtimestamp(second, dt.timezone.utc), usegmt=True))
    return _now_date[1]


def body_digest(body: bytes) -> str:
    """The base64 SHA-256 of a body, as the Digest header carries it after `SHA-256=`."""
    return base64.standard_b64encode(hashlib.sha256(body).digest()).decode("ascii")


def prepare_request(
    method: str, url: str, body: bytes | None = None, date: str | None = None, digest: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers of a request to sign — host, date [digest], Mastodon's set — and the signing string.
    `digest` (body_digest of the body) saves hashing a body sent to many inboxes again."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"host": parts.netloc, "date": date or http_date()}
    if body is not None:
        headers["digest"] = "SHA-256=" + (digest or body_digest(body))
    lines = [f"(request-target): {method.lower()} {target}"] + [
        f"{name}: {value}" for name, value in headers.items()
    ]
    return headers, "\n".join(lines).encode("utf-8")


def signature_header(key_id: str, signed_headers: Mapping[str, str], signature: str) -> str:
    """The Signature header for a signing string made by prepare_request."""
    names = " ".join(["(request-target)", *signed_headers])
    return f'keyId="{key_id}",algorithm="rsa-sha256",headers="{names}",signature="{signature}"'


def sign_request(
    method: str,
    url: str,
    secret: CryptographicSecret,
    body: bytes | None = None,
    date: str | None = None,
    accept: str | None = None,
) -> dict[str, str]:
    """Headers for a signed request: (request-target) host date [digest] — Mastodon's set."""
    headers, message = prepare_request(method, url, body, date)
    headers["signature"] = signature_header(secret.key_id, headers, secret.sign(message))
    if accept:
        headers["accept"] = accept
    return headers


_date_cache: dict[str, float] = {}  # Date header -> POSIX time: many requests share one Date


def _sent_at(value: str) -> float:
    sent = _date_cache.get(value)
    if sent is None:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise SignatureError("unreadable Date header") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        sent = moment.timestamp()
        if len(_date_cache) >= 4096:
            _date_cache.clear()
        _date_cache[value] = sent
    return sent


def _digest_matches(header: str, body: bytes) -> bool:
    """`Digest: SHA-256=...` (the algorithm name in any case) against the body."""
    return header[:8].lower() == "sha-256=" and header[8:] == body_digest(body)


def _check_date(value: str | None, max_age: float, max_future: float) -> None:
    if not value:
        raise SignatureError("missing Date header")
    age = time.time() - _sent_at(value)
    if age > max_age:
        raise SignatureError("Date header is too old")
    if -age > max_future:
        raise SignatureError("Date header is in the future")


def parse_signature(headers: Mapping[str, str]) -> Signature:
    from bovine.crypto.signature import Signature

    header = headers.get("signature")
    if not header:
        raise SignatureError("request is not signed (no Signature header)")
    try:
        return Signature.from_signature_header(header)
    except (KeyError, ValueError, IndexError) as error:
        raise SignatureError(f"unreadable Signature header: {error}") from None


async def verify_request(
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes | None,
    lookup: KeyLookup,
    max_age: float = 3900.0,
    max_future: float = 3600.0,
    base_url: str | None = None,
) -> str:
    """Checks the request's signature and returns the signing key's owner (an actor id).

    `lookup(key_id, refresh)` resolves a key; when the cached key fails, it is asked once
    more with refresh=True, for actors that rotated their key. RFC 9421 signatures (a Signature-Input
    header) are checked by federation/rfc9421.py against base_url + path_qs (default: https + Host).
    """
    if "signature-input" in headers:
        from federation.rfc9421 import verify_rfc9421  # it builds on this module's SignatureError

        public = urlsplit(base_url or f"https://{headers.get('host', '')}")
        origin = f"{public.scheme}://{public.netloc}"
        return await verify_rfc9421(method, origin + path_qs, headers, body, lookup, max_age, max_future)
    signature = parse_signature(headers)
    _check_covered(signature.fields, headers, body, max_age, max_future)
    message = _signed_message(signature, method, path_qs, headers)
    for refresh in (False, True):
        identifier = await lookup(signature.key_id, refresh)
        if identifier is None:
            raise SignatureError(f"unknown key {signature.key_id}")
        try:
            owner = identifier.verify(message, signature.signature)
        except (ValueError, TypeError):
            owner = None
        if owner:
            return owner
    raise SignatureError("signature does not verify")


def _check_covered(
    fields, headers: Mapping[str, str], body: bytes | None, max_age: float, max_future: float
) -> None:
    """Mastodon's rule: the target, host, digest (with a body) and a time are signed; digest and date hold."""
    required = ["(request-target)", "host"] + (["digest"] if body is not None else [])
    missing = [name for name in required if name not in fields]
    if "date" not in fields and "(created)" not in fields:
        missing.append("date")
    if missing:
        raise SignatureError("signature does not cover " + ", ".join(missing))
    if body is not None:
        if "digest" not in headers:
            raise SignatureError("missing Digest header")
        if not _digest_matches(headers["digest"], body):
            raise SignatureError("Digest does not match the body")
    if "date" in fields:
        _check_date(headers.get("date"), max_age, max_future)


def _signed_message(signature, method: str, path_qs: str, headers: Mapping[str, str]) -> bytes:
    """The signing string of draft-cavage: one `name: value` line per signed field, in their order."""
    lines = []
    for name in signature.fields:
        if name == "(request-target)":
            lines.append(f"{name}: {method.lower()} {path_qs}")
        elif name == "(created)":
            lines.append(f"{name}: {signature.created}")
        elif name == "(expires)":
            lines.append(f"{name}: {signature.expires}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise SignatureError(f"signed header {name} is missing")
    return "\n".join(lines).encode("utf-8")
