"""Strict peers (Fedify, JSON-LD processors) understand Interpeople, and Interpeople understands them.

Movement "landrights" lives on A; "water" and "relay" on B. A strict peer expands landrights' actor
document and finds its Ed25519 key; relay forwards an activity of water's carrying an eddsa-jcs-2022
proof made by another implementation (the spec's algorithm, written out in this test), and A takes it;
and requests signed the RFC 9421 way by another library are checked like draft-cavage ones.
"""

import hashlib
import json

import based58
import jcs
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms
from pyld import jsonld

from federation.proofs import check_proof, document_digest, ed25519_public
from tests.jsonld_contexts import SEC, offline_loader
from tests.signing import create_note, signed_post

AS = "https://www.w3.org/ns/activitystreams"
# The eddsa-jcs-2022 test vector of the W3C Data Integrity EdDSA Cryptosuites spec (signedJCS.json,
# keyPair.json).
SPEC_PUBLIC_KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SPEC_SIGNED = {
    "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
    "proof": {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2023-02-24T23:36:38Z",
        "verificationMethod": "https://vc.example/issuers/5678#" + SPEC_PUBLIC_KEY,
        "proofPurpose": "assertionMethod",
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "proofValue": "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5sr"
        "BowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4",
    },
}


def spec_check(document: dict) -> bool:
    return check_proof(document["proof"], document_digest(document), ed25519_public(SPEC_PUBLIC_KEY))


def independent_proof(document: dict, private: ed25519.Ed25519PrivateKey, method: str) -> dict:
    """eddsa-jcs-2022 as the spec writes it, with another JCS library and base58 encoder than the project."""
    config = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "verificationMethod": method,
        "proofPurpose": "assertionMethod",
        "created": "2026-12-01T12:00:00Z",
        "@context": document["@context"],
    }
    hash_data = (
        hashlib.sha256(jcs.canonicalize(config)).digest()
        + hashlib.sha256(jcs.canonicalize(document)).digest()
    )
    signature = private.sign(hash_data)
    return {**document, "proof": {**config, "proofValue": "z" + based58.b58encode(signature).decode()}}


def ed25519_private(multibase: str) -> ed25519.Ed25519PrivateKey:
    raw = based58.b58decode(multibase[1:].encode())  # z + base58btc(0x80 0x26 + 32 bytes)
    assert raw[:2] == b"\x80\x26"
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[2:])


@pytest.fixture(scope="module")
def story(module_instances):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("landrights")
    water, relay = b.movement("water"), b.movement("relay")
    return a, b, water, relay


# -- proofs by other implementations


def test_the_spec_test_vector_verifies_with_the_project_checker():
    assert spec_check(SPEC_SIGNED)


def test_the_spec_test_vector_fails_once_its_text_changes():
    assert not spec_check({**SPEC_SIGNED, "name": "Alumni Credential (forged)"})


def test_a_forwarded_activity_with_another_implementations_proof_is_accepted(story):
    a, b, water, relay = story
    method, private = b.private_key("water", "ed25519")
    activity = create_note(water, b.base_url, "forwarded with its proof")
    signed = independent_proof(activity, ed25519_private(private), method)
    response = signed_post(a.url("/inbox"), signed, b.private_key("relay"))  # relay signs the request
    assert response.status_code == 202, response.text
    assert a.sql("SELECT type FROM objects WHERE uri = :u", u=activity["object"]["id"]) == [("Note",)]


def test_a_forwarded_activity_whose_proof_does_not_match_is_refused(story):
    a, b, water, relay = story
    method, private = b.private_key("water", "ed25519")
    activity = create_note(water, b.base_url, "original words")
    signed = independent_proof(activity, ed25519_private(private), method)
    signed["object"] = {**signed["object"], "content": "<p>changed on the way</p>"}
    response = signed_post(a.url("/inbox"), signed, b.private_key("relay"))
    assert response.status_code == 403, response.text
    assert a.sql("SELECT 1 FROM objects WHERE uri = :u", u=activity["object"]["id"]) == []


# -- actor documents under JSON-LD


def expanded_actor(document: dict) -> dict:
    [node] = jsonld.expand(document, {"documentLoader": offline_loader})
    return node


def test_a_strict_peer_finds_the_ed25519_key_in_the_actor_document(story):
    a = story[0]
    document = a.get_json("/actors/landrights").json()
    node = expanded_actor(document)
    [method] = node[SEC + "assertionMethod"]
    assert method["@id"] == document["assertionMethod"][0]["id"]
    assert method["@type"] == [SEC + "Multikey"]
    assert method[SEC + "controller"] == [{"@id": document["id"]}]
    published = document["assertionMethod"][0]["publicKeyMultibase"]
    assert method[SEC + "publicKeyMultibase"][0]["@value"] == published


def test_a_strict_peer_still_finds_the_rsa_key_for_http_signatures(story):
    a = story[0]
    document = a.get_json("/actors/landrights").json()
    [key] = expanded_actor(document)[SEC + "publicKey"]
    assert key[SEC + "owner"] == [{"@id": document["id"]}]
    assert key[SEC + "publicKeyPem"][0]["@value"].startswith("-----BEGIN PUBLIC KEY-----")


def test_without_a_context_defining_assertion_method_the_key_is_lost(story):
    """Why the DID context is there: the former context left assertionMethod undefined."""
    a = story[0]
    document = {
        **a.get_json("/actors/landrights").json(),
        "@context": [AS, "https://w3id.org/security/v1", "https://w3id.org/security/multikey/v1"],
    }
    assert SEC + "assertionMethod" not in expanded_actor(document)


# -- RFC 9421 requests, signed by an independent implementation (http-message-signatures)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, private):
        self.private = private

    def resolve_private_key(self, key_id: str):
        return self.private


def rfc9421_post(
    url: str,
    document: dict,
    key_id: str,
    private,
    algorithm,
    body: bytes | None = None,
    covered=("@method", "@target-uri", "@authority", "content-digest"),
    digest: bool = True,
):
    """POSTs document signed by http-message-signatures (with a Content-Digest unless digest=False)."""
    signed_body = json.dumps(document).encode()
    request = requests.Request(
        "POST", url, data=signed_body, headers={"content-type": "application/activity+json"}
    ).prepare()
    signer = HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=_Keys(private))
    signer.sign(request, key_id=key_id, covered_component_ids=covered, body=signed_body if digest else None)
    if body is not None:  # sent instead of what was signed
        request.body = body
        request.headers["Content-Length"] = str(len(body))
    with requests.Session() as http:
        return http.send(request, timeout=10)


def test_an_rfc_9421_request_signed_with_the_rsa_key_is_accepted(story):
    a, b, water, _ = story
    key_id, pem = b.private_key("water")
    activity = create_note(water, b.base_url, "signed the RFC 9421 way")
    response = rfc9421_post(
        a.url("/inbox"),
        activity,
        key_id,
        load_pem_private_key(pem.encode(), None),
        algorithms.RSA_V1_5_SHA256,
    )
    assert response.status_code == 202, response.text
    assert a.sql("SELECT type FROM objects WHERE uri = :u", u=activity["object"]["id"]) == [("Note",)]


def test_an_rfc_9421_request_signed_with_the_ed25519_key_is_accepted(story):
    a, b, water, _ = story
    key_id, private = b.private_key("water", "ed25519")
    activity = create_note(water, b.base_url, "signed with Ed25519")
    response = rfc9421_post(
        a.url("/inbox"),
        activity,
        key_id,
        ed25519_private(private),
        algorithms.ED25519,
        covered=("@method", "@authority", "@path", "content-digest"),
    )
    assert response.status_code == 202, response.text


def test_an_rfc_9421_request_whose_body_was_changed_is_refused(story):
    a, b, water, _ = story
    key_id, pem = b.private_key("water")
    activity = create_note(water, b.base_url, "original")
    changed = json.dumps(create_note(water, b.base_url, "changed")).encode()
    response = rfc9421_post(
        a.url("/inbox"),
        activity,
        key_id,
        load_pem_private_key(pem.encode(), None),
        algorithms.RSA_V1_5_SHA256,
        body=changed,
    )
    assert response.status_code == 401
    assert "Content-Digest" in response.json()["error"]


def test_an_rfc_9421_signature_that_leaves_the_body_uncovered_is_refused(story):
    a, b, water, _ = story
    key_id, pem = b.private_key("water")
    response = rfc9421_post(
        a.url("/inbox"),
        create_note(water, b.base_url, "loose"),
        key_id,
        load_pem_private_key(pem.encode(), None),
        algorithms.RSA_V1_5_SHA256,
        covered=("@method", "@target-uri"),
        digest=False,
    )
    assert response.status_code == 401
    assert "content-digest" in response.json()["error"]


def test_an_rfc_9421_signature_by_another_key_is_refused(story):
    a, b, water, relay = story
    key_id, _ = b.private_key("water")
    _, other = b.private_key("relay")  # relay's key under water's key id
    response = rfc9421_post(
        a.url("/inbox"),
        create_note(water, b.base_url, "forged"),
        key_id,
        load_pem_private_key(other.encode(), None),
        algorithms.RSA_V1_5_SHA256,
    )
    assert response.status_code == 401
    assert "does not verify" in response.json()["error"]
