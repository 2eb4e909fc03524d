"""RFC 9421 HTTP Message Signatures on received requests (Fedify sends them first): rsa-v1_5-sha256, ed25519.

A request is taken when one signature covers @method, its target (@target-uri, or @authority with
@path or @request-target) and, with a body, a Content-Digest (RFC 9530) that matches it; its `created`
lies inside the accepted window; and it verifies with the key its `keyid` names. The key's owner is
the signer, as with draft-cavage signatures (federation/signatures.py).
"""

from __future__ import annotations

import hashlib
import time
from typing import Mapping
from urllib.parse import urlsplit

import http_sf

from federation.signatures import SignatureError

DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
TARGETS = ({"@target-uri"}, {"@authority", "@path"}, {"@authority", "@request-target"})


class Rfc9421Error(SignatureError):
    """A request whose RFC 9421 signature does not hold (401)."""


def _dictionary(headers: Mapping[str, str], name: str) -> dict:
    try:
        return http_sf.parse(headers.get(name, "").encode("latin-1", "replace"), tltype="dictionary")
    except Exception as error:  # http_sf raises ValueError and its own StructuredFieldError
        raise Rfc9421Error(f"unreadable {name} header: {error}") from None


def _components(method: str, target_uri: str, headers: Mapping[str, str]) -> dict:
    """The derived components (RFC 9421 section 2.2) of a request to target_uri."""
    parts = urlsplit(target_uri)
    path = parts.path or "/"
    query = "?" + parts.query
    return {
        "@method": method.upper(),
        "@target-uri": target_uri,
        "@authority": parts.netloc.lower(),
        "@scheme": parts.scheme.lower(),
        "@path": path,
        "@query": query,
        "@request-target": path + (query if parts.query else ""),
    }


def signature_base(
    label: str, signature_input, method: str, target_uri: str, headers: Mapping[str, str]
) -> bytes:
    """The signature base (section 2.5) of one signature, from its parsed Signature-Input member."""
    covered, _ = signature_input
    derived = _components(method, target_uri, headers)
    lines = []
    for name, params in covered:
        if not isinstance(name, str) or params:
            raise Rfc9421Error(f"covered component {name!r} with parameters is not supported")
        if name.startswith("@"):
            if name not in derived:
                raise Rfc9421Error(f"covered component {name} is not supported")
            value = derived[name]
        elif name in headers:
            value = (
                ", ".join(v.strip() for v in headers.getall(name))
                if hasattr(headers, "getall")
                else headers[name].strip()
            )
        else:
            raise Rfc9421Error(f"covered field {name} is missing")
        lines.append(f'"{name}": {value}')
    params = http_sf.ser_dictionary({label: signature_input})[len(label) + 1 :]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("utf-8")


def _check_digest(headers: Mapping[str, str], body: bytes) -> None:
    digests = _dictionary(headers, "content-digest")
    known = {name: value for name, (value, _) in digests.items() if name in DIGESTS}
    if not known:
        raise Rfc9421Error("Content-Digest has no sha-256 or sha-512 digest")
    for name, value in known.items():
        if not isinstance(value, bytes) or DIGESTS[name](body).digest() != value:
            raise Rfc9421Error("Content-Digest does not match the body")


def _verify_with(key, signature: bytes, base: bytes, alg: str | None) -> bool:
    # cryptography loads at the first check, not in an idle server
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

    try:
        if isinstance(key, rsa.RSAPublicKey) and alg in (None, "rsa-v1_5-sha256"):
            key.verify(signature, base, padding.PKCS1v15(), hashes.SHA256())
            return True
        if isinstance(key, ed25519.Ed25519PublicKey) and alg in (None, "ed25519"):
            key.verify(signature, base)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


async def verify_rfc9421(
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes | None,
    lookup,
    max_age: float,
    max_future: float,
) -> str:
    """The owner of the key that made the request's RFC 9421 signature; Rfc9421Error when it does not hold."""
    inputs, signatures = _dictionary(headers, "signature-input"), _dictionary(headers, "signature")
    label = next((name for name in inputs if name in signatures), None)
    if label is None:
        raise Rfc9421Error("Signature-Input and Signature name no common signature")
    signature_input, (signature, _) = inputs[label], signatures[label]
    if (
        not isinstance(signature_input, tuple)
        or not isinstance(signature_input[0], list)
        or not isinstance(signature, bytes)
    ):
        raise Rfc9421Error("Signature-Input or Signature is not shaped as RFC 9421 says")
    covered = {name for name, _ in signature_input[0]}
    params = signature_input[1]
    missing = [] if "@method" in covered else ["@method"]
    if not any(target <= covered for target in TARGETS):
        missing.append("@target-uri")
    if body is not None and "content-digest" not in covered:
        missing.append("content-digest")
    if missing:
        raise Rfc9421Error("signature does not cover " + ", ".join(missing))
    created, expires = params.get("created"), params.get("expires")
    if not isinstance(created, int):
        raise Rfc9421Error("signature has no created time")
    age = time.time() - created
    if age > max_age or -age > max_future or (isinstance(expires, int) and expires < time.time()):
        raise Rfc9421Error("signature is too old, expired or from the future")
    if body is not None:
        _check_digest(headers, body)
    key_id = params.get("keyid")
    if not isinstance(key_id, str):
        raise Rfc9421Error("signature names no keyid")
    base = signature_base(label, signature_input, method, target_uri, headers)
    alg = params.get("alg") if isinstance(params.get("alg"), str) else None
    for refresh in (False, True):
        identifier = await lookup(key_id, refresh)
        if identifier is None:
            raise Rfc9421Error(f"unknown key {key_id}")
        if _verify_with(identifier.public_key, signature, base, alg):
            return identifier.controller
    raise Rfc9421Error("signature does not verify")
