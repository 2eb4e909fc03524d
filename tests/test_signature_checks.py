"""Fast unit tests of HTTP Signature checking (federation/signatures.py), as Mastodon signs: a good
request passes, and a wrong digest, a stale or future Date, missing headers or a wrong key are refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from federation.keys import identifier_for, new_rsa_keypair, secret_for
from federation.signatures import SignatureError, body_digest, http_date, sign_request, verify_request

URL = "https://b.example/inbox"
ACTOR = "https://a.example/actors/alice"
KEY_ID = ACTOR + "#main-key"
BODY = json.dumps({"type": "Follow", "actor": ACTOR, "object": "https://b.example/actors/bob"}).encode()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    """Alice's key and another one (public PEM, private PEM)."""
    return {"alice": new_rsa_keypair(), "other": new_rsa_keypair()}


def _signed(keys, who: str = "alice", body: bytes | None = BODY, date: str | None = None) -> dict[str, str]:
    secret = secret_for(KEY_ID, keys[who][1], "rsa")
    return sign_request("post" if body is not None else "get", URL, secret, body, date=date)


def _lookup(public_pem: str, *, refreshed_pem: str | None = None, calls: list | None = None):
    async def lookup(key_id: str, refresh: bool):
        if calls is not None:
            calls.append((key_id, refresh))
        if key_id != KEY_ID:
            return None
        return identifier_for(ACTOR, refreshed_pem if refresh and refreshed_pem else public_pem, "rsa")

    return lookup


def _verify(headers, lookup, body: bytes | None = BODY, method: str = "post", path: str = "/inbox", **window):
    return asyncio.run(verify_request(method, path, headers, body, lookup, **window))


def _refusal(headers, lookup, body: bytes | None = BODY, **kwargs) -> str:
    with pytest.raises(SignatureError) as error:
        _verify(headers, lookup, body, **kwargs)
    assert error.value.status == 401
    return str(error.value)


def test_a_good_post_names_the_key_owner(keys):
    assert _verify(_signed(keys), _lookup(keys["alice"][0])) == ACTOR


def test_a_good_get_without_body_needs_no_digest(keys):
    headers = _signed(keys, body=None)
    assert "digest" not in headers
    assert _verify(headers, _lookup(keys["alice"][0]), body=None, method="get") == ACTOR


def test_a_body_changed_after_signing_fails_the_digest(keys):
    message = _refusal(_signed(keys), _lookup(keys["alice"][0]), body=BODY + b" ")
    assert message == "Digest does not match the body"


def test_a_digest_header_changed_with_the_body_fails_the_signature(keys):
    changed = BODY.replace(b"Follow", b"Block")
    headers = {**_signed(keys), "digest": "SHA-256=" + body_digest(changed)}
    assert _refusal(headers, _lookup(keys["alice"][0]), body=changed) == "signature does not verify"


def test_a_stale_date_is_refused(keys):
    old = http_date(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    assert _refusal(_signed(keys, date=old), _lookup(keys["alice"][0])) == "Date header is too old"


def test_a_date_too_far_ahead_is_refused(keys):
    ahead = http_date(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    assert _refusal(_signed(keys, date=ahead), _lookup(keys["alice"][0])) == "Date header is in the future"


def test_the_date_window_is_a_setting(keys):
    old = http_date(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10))
    assert _verify(_signed(keys, date=old), _lookup(keys["alice"][0])) == ACTOR
    refusal = _refusal(_signed(keys, date=old), _lookup(keys["alice"][0]), max_age=300)
    assert refusal == "Date header is too old"


def test_an_unsigned_request_is_refused(keys):
    headers = _signed(keys)
    del headers["signature"]
    assert _refusal(headers, _lookup(keys["alice"][0])) == "request is not signed (no Signature header)"


def test_a_post_without_its_digest_header_is_refused(keys):
    headers = _signed(keys)
    del headers["digest"]
    assert _refusal(headers, _lookup(keys["alice"][0])) == "missing Digest header"


def test_a_signature_that_does_not_cover_digest_and_date_is_refused(keys):
    headers = _signed(keys)
    headers["signature"] = headers["signature"].replace(
        'headers="(request-target) host date digest"', 'headers="(request-target) host"'
    )
    assert _refusal(headers, _lookup(keys["alice"][0])) == "signature does not cover digest, date"


def test_a_signed_header_missing_from_the_request_is_refused(keys):
    headers = _signed(keys)
    del headers["host"]
    assert _refusal(headers, _lookup(keys["alice"][0])) == "signed header host is missing"


def test_a_missing_date_header_is_refused(keys):
    headers = _signed(keys)
    del headers["date"]
    assert _refusal(headers, _lookup(keys["alice"][0])) == "missing Date header"


def test_another_path_than_the_signed_one_fails(keys):
    refusal = _refusal(_signed(keys), _lookup(keys["alice"][0]), path="/actors/bob/inbox")
    assert refusal == "signature does not verify"


def test_a_request_signed_with_another_key_fails_after_one_refetch(keys):
    calls: list = []
    message = _refusal(_signed(keys, "other"), _lookup(keys["alice"][0], calls=calls))
    assert message == "signature does not verify"
    assert calls == [(KEY_ID, False), (KEY_ID, True)]  # the cached key, then the refetched one


def test_a_rotated_key_verifies_after_the_refetch(keys):
    calls: list = []
    lookup = _lookup(keys["alice"][0], refreshed_pem=keys["other"][0], calls=calls)
    assert _verify(_signed(keys, "other"), lookup) == ACTOR
    assert calls == [(KEY_ID, False), (KEY_ID, True)]


def test_an_unknown_key_is_refused(keys):
    headers = _signed(keys)
    headers["signature"] = headers["signature"].replace(KEY_ID, ACTOR + "#unknown")
    assert _refusal(headers, _lookup(keys["alice"][0])) == f"unknown key {ACTOR}#unknown"


def test_an_unreadable_signature_header_is_refused(keys):
    headers = {**_signed(keys), "signature": "this is not a signature header"}
    assert _refusal(headers, _lookup(keys["alice"][0])).startswith("unreadable Signature header")
