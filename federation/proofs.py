"""Object integrity proofs (FEP-8b32, eddsa-jcs-2022) made and checked through bovine."""
from __future__ import annotations

import logging

from bovine.crypto.types import CryptographicSecret

from federation.vocabulary import as_list

log = logging.getLogger(__name__)


def sign_document(document: dict, secret: CryptographicSecret) -> dict:
    """The document with a DataIntegrityProof (eddsa-jcs-2022) by the secret's key."""
    return secret.sign_document(document)


def proof_methods(document: dict) -> list[str]:
    """The verificationMethod of each proof the document carries."""
    return [p.get("verificationMethod") for p in as_list(document.get("proof"))
            if isinstance(p, dict) and isinstance(p.get("verificationMethod"), str)]


async def verify_single_proof(document: dict, lookup) -> str | None:
    """The controller whose key made the document's proof, or None when it does not verify.

    `lookup(key_id, refresh)` resolves a verification method to a CryptographicIdentifier.
    """
    proof = document.get("proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("verificationMethod"), str):
        return None
    for refresh in (False, True):
        identifier = await lookup(proof["verificationMethod"], refresh)
        if identifier is None:
            return None
        try:
            controller = identifier.verify_document(document)
        except Exception as error:  # malformed proofs raise from deep inside bovine/pyld
            log.info("proof by %s is malformed: %s", proof["verificationMethod"], error)
            return None
        if controller:
            return controller
    return None
