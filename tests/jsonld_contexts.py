"""Published JSON-LD contexts, abridged to the terms actor documents and proofs use, for offline expansion.

Each entry gives the definitions the published context at that URL gives these terms (protected where
the published one is), so a strict JSON-LD peer's view of a document can be checked without a network.
The ActivityStreams context is the full one bovine bundles; an instance's agreements context is the one
the project serves.
"""

from __future__ import annotations

from bovine.jsonld import activitystreams_context

from federation.agreements.documents import CONTEXT_DOCUMENT
from federation.vocabulary import AGREEMENTS_CONTEXT_PATH

SEC = "https://w3id.org/security#"
_ID = {"@type": "@id"}

CONTEXTS = {
    "https://www.w3.org/ns/activitystreams": activitystreams_context,
    # JSON-LD 1.0, not protected: the terms of Mastodon's publicKey.
    "https://w3id.org/security/v1": {
        "id": "@id",
        "type": "@type",
        "sec": SEC,
        "publicKey": {"@id": SEC + "publicKey", **_ID},
        "publicKeyPem": SEC + "publicKeyPem",
        "owner": {"@id": SEC + "owner", **_ID},
        "proofValue": SEC + "proofValue",
    },
    # assertionMethod appears here only inside the proofPurpose scope, as a value, not as a property.
    "https://w3id.org/security/data-integrity/v1": {
        "id": "@id",
        "type": "@type",
        "@protected": True,
        "proof": {"@id": SEC + "proof", "@type": "@id", "@container": "@graph"},
        "DataIntegrityProof": {
            "@id": SEC + "DataIntegrityProof",
            "@context": {
                "@protected": True,
                "id": "@id",
                "type": "@type",
                "created": {
                    "@id": "http://purl.org/dc/terms/created",
                    "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
                },
                "cryptosuite": SEC + "cryptosuite",
                "proofValue": {"@id": SEC + "proofValue", "@type": SEC + "multibase"},
                "verificationMethod": {"@id": SEC + "verificationMethod", **_ID},
                "proofPurpose": {
                    "@id": SEC + "proofPurpose",
                    "@type": "@vocab",
                    "@context": {
                        "@protected": True,
                        "id": "@id",
                        "type": "@type",
                        "assertionMethod": {
                            "@id": SEC + "assertionMethod",
                            "@type": "@id",
                            "@container": "@set",
                        },
                    },
                },
            },
        },
    },
    "https://www.w3.org/ns/did/v1": {
        "@protected": True,
        "id": "@id",
        "type": "@type",
        "assertionMethod": {"@id": SEC + "assertionMethod", "@type": "@id", "@container": "@set"},
        "authentication": {"@id": SEC + "authenticationMethod", "@type": "@id", "@container": "@set"},
        "controller": {"@id": SEC + "controller", **_ID},
        "verificationMethod": {"@id": SEC + "verificationMethod", **_ID},
    },
    "https://w3id.org/security/multikey/v1": {
        "id": "@id",
        "type": "@type",
        "@protected": True,
        "Multikey": {
            "@id": SEC + "Multikey",
            "@context": {
                "@protected": True,
                "id": "@id",
                "type": "@type",
                "controller": {"@id": SEC + "controller", **_ID},
                "publicKeyMultibase": {"@id": SEC + "publicKeyMultibase", "@type": SEC + "multibase"},
            },
        },
    },
}


# data-integrity/v2 defines the same terms (and a few more, unused here) as v1.
CONTEXTS["https://w3id.org/security/data-integrity/v2"] = CONTEXTS[
    "https://w3id.org/security/data-integrity/v1"
]


def offline_loader(url: str, options=None) -> dict:
    """A pyld document loader that serves CONTEXTS, and any instance's agreements context (the one the
    project publishes at AGREEMENTS_CONTEXT_PATH), and fails for anything else (no network)."""
    if url.endswith(AGREEMENTS_CONTEXT_PATH):
        context = CONTEXT_DOCUMENT["@context"]
    elif url in CONTEXTS:
        context = CONTEXTS[url]
    else:
        raise LookupError(f"no bundled context for {url}")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": {"@context": context},
    }
