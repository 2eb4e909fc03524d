"""Object integrity proofs (FEP-8b32, eddsa-jcs-2022) made and checked through bovine."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING

import rfc8785

if TYPE_CHECKING:  # bovine (~37 MB) and cryptography (~11 MB) load at first use, not in an idle server
    from bovine.crypto.types import CryptographicSecret
    from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.vocabulary import as_list, iso

log = logging.getLogger(__name__)


def sign_document(document: dict, secret: CryptographicSecret) -> dict:
    """The document with a DataIntegrityProof (eddsa-jcs-2022) by the secret's key."""
    return secret.sign_document(document)


def proof_methods(document: dict) -> list[str]:
    """The verificationMethod of each proof the document carries."""
    return [
        p.get("verificationMethod")
        for p in as_list(document.get("proof"))
        if isinstance(p, dict) and isinstance(p.get("verificationMethod"), str)
    ]


async def verify_single_proof(document: dict, lookup) -> str | None:
    """The controller whose key made the document's eddsa-jcs-2022 proof, or None when it does not verify.

    Checked by this module's own implementation of the W3C algorithm (check_proof), so proofs made by
    any conforming implementation verify, whatever JSON-LD shape their document has.
    `lookup(key_id, refresh)` resolves a verification method to a CryptographicIdentifier.
    """
    proof = document.get("proof")
    problem = proof_problem(proof, document)
    if problem:
        log.info("proof not checked: %s", problem)
        return None
    try:
        digest = document_digest(document)
    except ValueError as error:  # numbers or text JCS cannot express
        log.info("proof not checked: %s", error)
        return None
    for refresh in (False, True):
        identifier = await lookup(proof["verificationMethod"], refresh)
        if identifier is None:
            return None
        key = identifier.public_key
        if is_ed25519_public(key) and check_proof(proof, digest, key):
            return identifier.controller
    return None


# ---------------------------------------------------------------- eddsa-jcs-2022, done directly
#
# bovine's sign_document compacts documents through pyld (network fetches of contexts) and leaves
# the proof's @context out of the proof configuration. Agreements need proofs that verify offline,
# years later, and fast for a thousand signers, so the W3C algorithm is also implemented here:
#   proofConfig   = the proof without proofValue (its @context is the document's @context)
#   hashData      = SHA-256(JCS(proofConfig)) || SHA-256(JCS(document without "proof"))
#   proofValue    = multibase base58btc (z...) of the Ed25519 signature over hashData


CRYPTOSUITE = "eddsa-jcs-2022"
_ED25519_PUB_PREFIX = b"\xed\x01"
_SAFE_INT = 2**53


def _plain(value) -> bool:
    """True when json.dumps(sort_keys, ensure_ascii=False) gives exactly the JCS form of value."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT < value < _SAFE_INT
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        # Python sorts keys by code point, JCS by UTF-16 unit: the same below the surrogate range.
        return all(
            isinstance(k, str) and (k.isascii() or max(k) < "\ud800") and _plain(v) for k, v in value.items()
        )
    return False


def canonical(value) -> bytes:
    """RFC 8785 (JCS) canonical bytes; a fast path for documents of strings, whole numbers and lists."""
    if _plain(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8"
            )
        except UnicodeEncodeError:  # lone surrogates: let rfc8785 decide
            pass
    return rfc8785.dumps(value)


def without_proof(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "proof"}


def document_digest(document: dict) -> bytes:
    """SHA-256 of the canonical document without its proofs: computed once, shared by every proof."""
    return hashlib.sha256(canonical(without_proof(document))).digest()


def content_hash(document: dict) -> str:
    """The hex SHA-256 of a document's canonical form without proofs (how versions are named)."""
    return document_digest(document).hex()


def ed25519_private(multibase_private: str) -> ed25519.Ed25519PrivateKey:
    from bovine.crypto.multibase import multibase_to_private_key

    return multibase_to_private_key(multibase_private)


def is_ed25519_public(key: object) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return isinstance(key, ed25519.Ed25519PublicKey)


def ed25519_public(multibase_public: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from its Multikey form (z + base58btc of 0xed01 + 32 bytes)."""
    from bovine.crypto.multibase import multibase_decode
    from cryptography.hazmat.primitives.asymmetric import ed25519

    raw = multibase_decode(multibase_public)
    if len(raw) != 34 or raw[:2] != _ED25519_PUB_PREFIX:
        raise ValueError("not an Ed25519 Multikey")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw[2:])


def make_proof(
    document: dict,
    private_key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    created: str | None = None,
    digest: bytes | None = None,
) -> dict:
    """A DataIntegrityProof (eddsa-jcs-2022) over the document without its proofs."""
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
        "created": created or iso(),
    }
    if "@context" in document:
        proof = {"@context": document["@context"], **proof}
    digest = digest or document_digest(document)
    signature = private_key.sign(hashlib.sha256(canonical(proof)).digest() + digest)
    from bovine.crypto.multibase import multibase_58btc_encode

    return {**proof, "proofValue": multibase_58btc_encode(signature)}


def add_proof(document: dict, proof: dict) -> dict:
    """The document carrying one more proof (a proof set once there are two)."""
    proofs = as_list(document.get("proof")) + [proof]
    return {**without_proof(document), "proof": proofs[0] if len(proofs) == 1 else proofs}


def proof_problem(proof, document: dict | None = None) -> str | None:
    """Why a proof cannot be checked at all (shape, suite, context), or None."""
    if not isinstance(proof, dict):
        return "proof is not an object"
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        return f"unsupported proof {proof.get('type')}/{proof.get('cryptosuite')}"
    if proof.get("proofPurpose") != "assertionMethod":
        return "proofPurpose must be assertionMethod"
    if not isinstance(proof.get("verificationMethod"), str) or not isinstance(proof.get("proofValue"), str):
        return "proof lacks verificationMethod or proofValue"
    if (
        document is not None
        and "@context" in proof
        and not _starts_with(document.get("@context"), proof["@context"])
    ):
        return "proof @context is not the start of the document's"
    return None


def _starts_with(document_context, proof_context) -> bool:
    """Whether the document's @context begins with the proof's, in order (eddsa-jcs-2022 verification)."""
    document_context, proof_context = as_list(document_context), as_list(proof_context)
    return document_context[: len(proof_context)] == proof_context


def _config_json(config: dict) -> bytes:
    """JCS of a proof configuration: its usual shape (ASCII keys, string values, a list of strings as
    @context) goes straight to the C JSON encoder; anything else through canonical()."""
    for key, value in config.items():
        if type(value) is str and key.isascii():
            continue
        if key == "@context" and type(value) is list and all(type(c) is str for c in value):
            continue
        return canonical(config)
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return rfc8785.dumps(config)


def check_proof(proof: dict, digest: bytes, public_key: ed25519.Ed25519PublicKey) -> bool:
    """Whether an eddsa-jcs-2022 proof verifies over a document whose digest is given."""
    from cryptography.exceptions import InvalidSignature

    try:
        from bovine.crypto.multibase import multibase_decode

        signature = multibase_decode(proof["proofValue"])
        config = {k: v for k, v in proof.items() if k != "proofValue"}
        public_key.verify(signature, hashlib.sha256(_config_json(config)).digest() + digest)
        return True
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
