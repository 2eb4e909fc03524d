"""Checking a signed agreement document: one eddsa-jcs-2022 proof per party, over the same canonical text.

Pure functions (no database, no network): keys come from a resolver, built from actor documents
(a `--with-keys` bundle, fetched documents) or from an instance's key table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable

from federation.proofs import check_proof, content_hash, document_digest, ed25519_public, proof_problem
from federation.vocabulary import as_list

if TYPE_CHECKING:  # cryptography loads at first use
    from cryptography.hazmat.primitives.asymmetric import ed25519

# verification method id -> (controller actor id, public key), or None when unknown
Resolver = Callable[[str], "tuple[str, ed25519.Ed25519PublicKey] | None"]

VERIFIED, INVALID, MISSING = "verified", "invalid", "missing"


@dataclass
class PartyCheck:
    party: str
    status: str  # verified / invalid / missing
    detail: str = ""
    method: str | None = None
    created: str | None = None


@dataclass
class Report:
    version: str
    parties: list[PartyCheck]
    strangers: list[PartyCheck] = field(default_factory=list)  # proofs by non-parties, or unusable ones

    @property
    def ok(self) -> bool:
        return bool(self.parties) and not self.strangers and all(p.status == VERIFIED for p in self.parties)


@lru_cache(maxsize=65536)
def _public_key(multibase: str) -> ed25519.Ed25519PublicKey:
    return ed25519_public(multibase)


def keys_from_actor_documents(documents: Iterable[dict]) -> dict[str, tuple[str, ed25519.Ed25519PublicKey]]:
    """The Ed25519 Multikeys (FEP-521a assertionMethod) each actor document publishes for itself."""
    keys: dict[str, tuple[str, ed25519.Ed25519PublicKey]] = {}
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            continue
        actor = document["id"]
        for method in as_list(document.get("assertionMethod")):
            if not isinstance(method, dict) or method.get("type") != "Multikey":
                continue
            if method.get("controller") != actor or not isinstance(method.get("id"), str):
                continue
            try:
                keys[method["id"]] = (actor, _public_key(method.get("publicKeyMultibase", "")))
            except (ValueError, TypeError):
                continue
    return keys


def parties_of(document: dict) -> list[str]:
    return [p for p in as_list(document.get("parties")) if isinstance(p, str)]


def verify_agreement(document: dict, resolve: Resolver) -> Report:
    """Every party's proof over the document without proofs; the digest is computed once for all."""
    digest = document_digest(document)
    parties = parties_of(document)
    party_set = set(parties)
    found: dict[str, PartyCheck] = {}
    strangers: list[PartyCheck] = []
    for proof in as_list(document.get("proof")):
        problem = proof_problem(proof, document)
        method = proof.get("verificationMethod") if isinstance(proof, dict) else None
        if problem:
            strangers.append(PartyCheck(str(method), INVALID, problem, method))
            continue
        resolved = resolve(method)
        if resolved is None:
            owner = method.split("#", 1)[0]
            check = PartyCheck(owner, INVALID, f"key {method} not found", method, proof.get("created"))
        else:
            controller, key = resolved
            good = check_proof(proof, digest, key)
            check = PartyCheck(
                controller,
                VERIFIED if good else INVALID,
                "" if good else "signature does not match the text",
                method,
                proof.get("created"),
            )
        if check.party not in party_set:
            check.status, check.detail = INVALID, (check.detail or "") + " (not a party)"
            strangers.append(check)
        elif check.party in found and found[check.party].status == VERIFIED:
            continue  # a second proof by the same party adds nothing
        else:
            found[check.party] = check
    checks = [found.get(party) or PartyCheck(party, MISSING, "no proof by this party") for party in parties]
    return Report(content_hash(document), checks, strangers)
