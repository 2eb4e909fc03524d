"""Inbox hooks of agreements: every proof is verified against its signer's published key (before the
storing transaction), then the activity goes through the same lifecycle functions as local actions."""

from __future__ import annotations

import functools
import logging

from federation.agreements.actions import ensure_actors, publish_proposal
from federation.agreements.documents import MAX_PARTIES
from federation.agreements.lifecycle import (
    accept_amendment,
    record_decline,
    record_signature,
    record_withdrawal,
)
from federation.agreements.remote import apply_origin_document
from federation.agreements.store import proposal_by_uri
from federation.context import Federation
from federation.decisions.mandate import mandate_problem
from federation.fetch import FetchError
from federation.inbox import Incoming
from federation.proofs import (
    check_proof,
    content_hash,
    document_digest,
    is_ed25519_public,
    proof_problem,
    without_proof,
)
from federation.refusal import Refusal
from federation.vocabulary import as_list, host_of, id_of
from models import Actor

log = logging.getLogger(__name__)


def carried_proofs(document: dict) -> list[tuple[dict, dict]]:
    """(signed document, proof) pairs an agreement activity carries."""
    pairs: list[tuple[dict, dict]] = []

    def take(signed) -> None:
        if isinstance(signed, dict):
            pairs.extend((signed, proof) for proof in as_list(signed.get("proof")) if isinstance(proof, dict))

    obj = document.get("object")
    if document["type"] == "Accept" and isinstance(obj, dict):
        take(obj)
    elif document["type"] in ("Reject", "Leave"):
        take(document)
    elif document["type"] in ("Create", "Update") and isinstance(obj, dict):
        for item in (
            as_list(obj.get("versions"))[:MAX_PARTIES]
            + as_list(obj.get("declines"))
            + as_list(obj.get("withdrawals"))
        ):
            take(item)
    return pairs


async def verify_carried(fed: Federation, document: dict) -> dict[str, str | None]:
    """proofValue -> the controller whose published Ed25519 key verifies it (None when none does)."""
    keys = fed.keys
    results: dict[str, str | None] = {}
    digests: dict[int, bytes] = {}
    for signed, proof in carried_proofs(document):
        value = proof.get("proofValue")
        if not isinstance(value, str) or value in results:
            continue
        results[value] = None
        if proof_problem(proof, signed):
            continue
        digest = digests.get(id(signed)) or digests.setdefault(id(signed), document_digest(signed))
        for refresh in (False, True):  # a failure may mean the key rotated: refetch once
            identifier = await keys.lookup(proof["verificationMethod"], refresh)
            if identifier is None:
                break
            if is_ed25519_public(identifier.public_key) and check_proof(proof, digest, identifier.public_key):
                results[value] = identifier.controller
                break
    return results


async def fetch_mandate(fed: Federation, document: dict) -> dict:
    """The outcome record a Sign links as its `mandate` ({"record": None} when it does not exist)."""
    url = document.get("mandate")
    if document.get("type") != "Accept" or url is None:
        return {}
    if not isinstance(url, str) or host_of(url) != host_of(id_of(document.get("actor")) or ""):
        raise Refusal(400, "a mandate must be a URL on the signing movement's own instance")
    try:
        return {"record": await fed.fetch_document(url)}
    except FetchError as error:
        if (error.status is not None and 400 <= error.status < 500) or "document" in str(error):
            return {"record": None}  # 4xx, not an ActivityPub document, or one with another id
        raise  # unreachable for now: the entry is retried


async def prepare(fed: Federation, document: dict, actor: Actor) -> dict:
    prepared = {"proofs": await verify_carried(fed, document), "mandate": await fetch_mandate(fed, document)}
    obj = document.get("object")
    if document["type"] == "Create" and isinstance(obj, dict):
        # meet the parties now, so that signing later can reach all of them
        parties = [p for p in as_list(obj.get("parties")) if isinstance(p, str)]
        await ensure_actors(
            fed, parties[:50] + ([obj["mediator"]] if isinstance(obj.get("mediator"), str) else [])
        )
    return prepared


def _only_proof(document: dict, status: int, refusal: str) -> dict:
    """The one proof a signed activity or version carries (refused with `refusal` otherwise)."""
    proofs = as_list(document.get("proof"))
    if len(proofs) != 1:
        raise Refusal(status, refusal)
    return proofs[0]


def _signer_of(incoming: Incoming, proof) -> str:
    value = proof.get("proofValue") if isinstance(proof, dict) else None
    signer = incoming.prepared.get("proofs", {}).get(value) if isinstance(value, str) else None
    if signer is None:
        raise Refusal(403, "the proof does not verify against its signer's published key")
    if signer != incoming.actor.uri:
        raise Refusal(403, f"the proof is by {signer}, but the activity's actor is {incoming.actor.uri}")
    return signer


async def _proposal_named(incoming: Incoming, uri) -> object | None:
    return await proposal_by_uri(incoming.session, uri) if isinstance(uri, str) else None


async def _origin_follows_up(incoming: Incoming, proposal) -> None:
    """The origin tells everyone the proposal's new state after a remote party acted."""
    if proposal.local:
        await publish_proposal(incoming.session, incoming.fed, proposal)
        incoming.queued_deliveries = True


def logs_refusals(handler):
    """A refused agreement activity is logged as a warning (operators see forged or stale proofs), then the
    inbox answers the Refusal's status as for any other activity."""

    @functools.wraps(handler)
    async def logged(incoming: Incoming) -> None:
        try:
            await handler(incoming)
        except Refusal as error:
            log.warning(
                "agreements: refused %s %s from %s (%d): %s",
                incoming.document.get("type"),
                incoming.document.get("id"),
                incoming.actor.uri,
                error.status,
                error.message,
            )
            raise

    return logged


@logs_refusals
async def on_proposal(incoming: Incoming) -> None:
    obj = incoming.object
    if not isinstance(obj, dict):
        raise Refusal(400, "a Proposal must be embedded")
    await apply_origin_document(
        incoming.session, obj, incoming.actor.uri, incoming.prepared.get("proofs", {})
    )


@logs_refusals
async def on_offer(incoming: Incoming) -> None:
    """An amendment: the origin orders it; other instances wait for the origin's Update."""
    document = incoming.object
    proposal = await _proposal_named(incoming, document.get("proposal"))
    if proposal is None or not proposal.local:
        return
    await accept_amendment(
        incoming.session, incoming.fed, proposal, without_proof(document), incoming.actor.uri
    )
    await _origin_follows_up(incoming, proposal)


@logs_refusals
async def on_sign(incoming: Incoming) -> None:
    document = incoming.object
    proposal = await _proposal_named(incoming, document.get("proposal"))
    if proposal is None:
        return  # not ours to judge: we never saw this proposal
    proof = _only_proof(document, 400, "a signature carries exactly one proof")
    signer = _signer_of(incoming, proof)
    version = content_hash(document)
    details = _signature_details(incoming, signer, proposal.uri, version)
    await record_signature(incoming.session, proposal, version, signer, proof, details)
    await _origin_follows_up(incoming, proposal)


def _signature_details(incoming: Incoming, signer: str, proposal_uri: str, version: str) -> dict:
    """Who acted (a member on the movement's host), the reason, and the mandate, checked against the
    outcome record fetched before the transaction: one that does not exist, does not match its digest,
    or says no is refused."""
    activity = incoming.document
    acted_by = activity.get("actedBy")
    if acted_by is not None and (not isinstance(acted_by, str) or host_of(acted_by) != host_of(signer)):
        raise Refusal(400, "actedBy must name a member on the signing movement's instance")
    source = activity.get("source")
    reason = source.get("content") if isinstance(source, dict) else None
    if not isinstance(reason, str):
        reason = activity.get("content") if isinstance(activity.get("content"), str) else None
    details = {"acted_by": acted_by, "reason": reason[:5000] if reason else None}
    if activity.get("mandate") is not None:
        fetched = incoming.prepared.get("mandate", {})
        problem = mandate_problem(
            fetched.get("record"), activity.get("mandateDigest"), signer, proposal_uri, version
        )
        if problem:
            raise Refusal(403, f"{problem}: {activity['mandate']}")
        details |= {"mandate_uri": activity["mandate"], "mandate_digest": activity["mandateDigest"].lower()}
    return details


@logs_refusals
async def on_decline(incoming: Incoming) -> None:
    proposal = await _proposal_named(incoming, incoming.object.get("proposal"))
    if proposal is None:
        return
    signer = _signer_of(
        incoming, _only_proof(incoming.document, 403, "a decline must carry its actor's proof")
    )
    await record_decline(
        incoming.session, proposal, signer, incoming.document.get("version"), incoming.document
    )
    await _origin_follows_up(incoming, proposal)


@logs_refusals
async def on_leave(incoming: Incoming) -> None:
    proposal = await _proposal_named(incoming, incoming.object_id)
    if proposal is None:
        return
    signer = _signer_of(
        incoming, _only_proof(incoming.document, 403, "a withdrawal must carry its actor's proof")
    )
    await record_withdrawal(incoming.session, proposal, signer, incoming.document)
    await _origin_follows_up(incoming, proposal)
