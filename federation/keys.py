"""Key generation and the public key shapes actors publish (publicKey, FEP-521a Multikey)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bovine loads at first use (it costs a process ~37 MB)
    from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret

RSA_FRAGMENT = "#main-key"
ED25519_FRAGMENT = "#ed25519-key"


def new_rsa_keypair() -> tuple[str, str]:
    """(public PEM, private PEM) of a fresh RSA-2048 key."""
    from bovine.crypto import generate_rsa_public_private_key

    return generate_rsa_public_private_key()


def new_ed25519_keypair() -> tuple[str, str]:
    """(public multibase, private multibase) of a fresh Ed25519 key."""
    from bovine.crypto import generate_ed25519_private_key
    from bovine.crypto.multibase import encode_public_key_to_multibase, multibase_to_private_key

    private = generate_ed25519_private_key()
    public = encode_public_key_to_multibase(multibase_to_private_key(private).public_key())
    return public, private


def public_key_document(actor_uri: str, pem: str) -> dict:
    return {"id": actor_uri + RSA_FRAGMENT, "owner": actor_uri, "publicKeyPem": pem}


def multikey_document(actor_uri: str, multibase: str) -> dict:
    return {
        "id": actor_uri + ED25519_FRAGMENT,
        "type": "Multikey",
        "controller": actor_uri,
        "publicKeyMultibase": multibase,
    }


@lru_cache(maxsize=4096)
def secret_for(key_id: str, private: str, kind: str) -> CryptographicSecret:
    """Parsing a private key costs far more than using it, so parsed keys are cached."""
    from bovine.crypto.types import CryptographicSecret

    if kind == "rsa":
        return CryptographicSecret.from_pem(key_id, private)
    return CryptographicSecret.from_multibase(key_id, private)


@lru_cache(maxsize=16384)
def identifier_for(owner: str, public: str, kind: str) -> CryptographicIdentifier:
    from bovine.crypto.types import CryptographicIdentifier

    if kind == "rsa":
        return CryptographicIdentifier.from_pem(public, owner)
    return CryptographicIdentifier.from_tuple(owner, public)
