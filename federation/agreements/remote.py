"""What an origin instance publishes, as others receive it: its Proposal document applied step by step."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.agreements.documents import MAX_PARTIES
from federation.agreements.lifecycle import (
    maybe_agree,
    record_decline,
    record_past_signature,
    record_signature,
    record_withdrawal,
    refresh_expiry,
    transition,
)
from federation.agreements.store import add_version, parties_of, proposal_by_uri, signature_of, version_of
from federation.content import parse_time
from federation.decisions.lifecycle import void_stale
from federation.proofs import content_hash
from federation.refusal import Refusal
from federation.vocabulary import as_list, host_of, id_of
from models.agreement import (
    Proposal,
    ProposalParty,
    ProposalVersion,
    State,
)

log = logging.getLogger(__name__)


def _check_version_shape(document: dict, proposal: Proposal, parties: list[str]) -> None:
    if (
        document.get("type") != "Agreement"
        or document.get("id") != proposal.agreement_uri
        or document.get("proposal") != proposal.uri
        or document.get("attributedTo") != proposal.author_uri
    ):
        raise Refusal(400, "a version must be an Agreement naming this proposal, its agreement id and author")
    if as_list(document.get("parties")) != parties or document.get("mediator") != proposal.mediator_uri:
        raise Refusal(400, "a version names other parties than its proposal")


async def apply_origin_document(
    session: AsyncSession, document: dict, actor_uri: str, verified: dict[str, str | None]
) -> Proposal:
    """Brings this instance's copy of a remote proposal up to its origin's document.

    `verified` maps each proofValue to the controller whose published key verified it (None: it did not).
    Every proof is checked before anything is accepted; states change only through transition().
    """
    uri, agreement_uri, versions, parties = _origin_fields(document, actor_uri)
    proposal = await _local_copy(session, document, actor_uri, uri, agreement_uri, parties)
    hashes = await _store_versions(session, proposal, versions, parties, actor_uri)
    _check_every_proof(versions, verified)
    await _follow_current_version(session, proposal, versions, hashes, actor_uri)
    await _record_version_proofs(session, proposal, versions, hashes, verified)
    await _record_carried_activities(session, proposal, document, verified)
    await refresh_expiry(session, proposal)
    return proposal


def _origin_fields(document: dict, actor_uri: str) -> tuple[str, str, list[dict], list[str]]:
    """The id, agreement id, versions and parties of a Proposal, refused unless its origin sends it."""
    uri, agreement_uri = document.get("id"), document.get("agreement")
    versions = [v for v in as_list(document.get("versions")) if isinstance(v, dict)]
    parties = [p for p in as_list(document.get("parties")) if isinstance(p, str)]
    if not isinstance(uri, str) or not isinstance(agreement_uri, str) or not versions or len(parties) < 2:
        raise Refusal(400, "a Proposal needs an id, an agreement id, parties and versions")
    if (
        document.get("attributedTo") != actor_uri
        or host_of(uri) != host_of(actor_uri)
        or host_of(agreement_uri) != host_of(actor_uri)
    ):
        raise Refusal(403, f"only the origin instance of {uri} may publish or update it")
    if len(parties) > MAX_PARTIES:
        raise Refusal(413, "too many parties")
    return uri, agreement_uri, versions, parties


async def _local_copy(
    session: AsyncSession, document: dict, actor_uri: str, uri: str, agreement_uri: str, parties: list[str]
) -> Proposal:
    """This instance's copy of the proposal (made with its parties at first contact); parties never change."""
    proposal = await proposal_by_uri(session, uri)
    if proposal is None:
        proposal = Proposal(
            uri=uri,
            agreement_uri=agreement_uri,
            local=False,
            author_uri=actor_uri,
            title=str(document.get("name") or "")[:2000],
            state=State.draft.value,
            mediator_uri=id_of(document.get("mediator")),
            renews_uri=id_of(document.get("renews")),
            start_time=parse_time(document.get("startTime")),
            end_time=parse_time(document.get("endTime")),
        )
        session.add(proposal)
        await session.flush()
        for position, party in enumerate(parties):
            session.add(
                ProposalParty(proposal_id=proposal.id, actor_uri=party, role="party", position=position)
            )
        if proposal.mediator_uri:
            session.add(
                ProposalParty(proposal_id=proposal.id, actor_uri=proposal.mediator_uri, role="mediator")
            )
        await session.flush()
    elif proposal.local or proposal.author_uri != actor_uri or proposal.agreement_uri != agreement_uri:
        raise Refusal(403, f"only the origin instance of {uri} may update it")
    known_parties = [p.actor_uri for p in await parties_of(session, proposal)]
    if parties != known_parties:
        raise Refusal(409, "the origin changed the parties of a proposal")
    return proposal


async def _store_versions(
    session: AsyncSession, proposal: Proposal, versions: list[dict], known_parties: list[str], actor_uri: str
) -> list[str]:
    """Stores the versions not known yet in the origin's order (known ones are immutable); their hashes."""
    hashes: list[str] = []
    for seq, version_document_ in enumerate(versions, 1):
        _check_version_shape(version_document_, proposal, known_parties)
        version_hash = content_hash(version_document_)
        hashes.append(version_hash)
        stored = await version_of(session, proposal, version_hash)
        if stored is None:
            clash = await session.scalar(
                select(ProposalVersion.id).where(
                    ProposalVersion.proposal_id == proposal.id, ProposalVersion.seq == seq
                )
            )
            if clash is not None:
                raise Refusal(409, f"the origin rewrote version {seq}; versions are immutable")
            await add_version(
                session,
                proposal,
                version_document_,
                seq,
                id_of(version_document_.get("versionAuthor")) or actor_uri,
            )
        elif stored.seq is None:
            stored.seq = seq
    return hashes


def _check_every_proof(versions: list[dict], verified: dict[str, str | None]) -> None:
    """Every proof is checked before any state changes."""
    for version_document_ in versions:
        for proof in as_list(version_document_.get("proof")):
            _verified_signer(proof, verified)


async def _follow_current_version(
    session: AsyncSession, proposal: Proposal, versions: list[dict], hashes: list[str], actor_uri: str
) -> None:
    """Publishes a new copy, and moves to the origin's latest version (an amendment) when it changed."""
    if proposal.state == State.draft.value:
        await transition(session, proposal, "publish", actor_uri, detail=hashes[0])
    if proposal.current_version != hashes[-1]:
        if proposal.current_version is not None:
            await transition(session, proposal, "amend", id_of(versions[-1].get("versionAuthor")))
        proposal.current_version = hashes[-1]
        proposal.title = str(versions[-1].get("name") or proposal.title)[:2000]
        proposal.end_time = parse_time(versions[-1].get("endTime"))
        proposal.start_time = parse_time(versions[-1].get("startTime"))
        await session.flush()
        await void_stale(session, proposal)


async def _record_version_proofs(
    session: AsyncSession,
    proposal: Proposal,
    versions: list[dict],
    hashes: list[str],
    verified: dict[str, str | None],
) -> None:
    """Proofs on the current version of an open proposal are signatures; others are kept for the record."""
    for version_hash, version_document_ in zip(hashes, versions):
        for proof in as_list(version_document_.get("proof")):
            signer = _verified_signer(proof, verified)
            if await signature_of(session, proposal, version_hash, signer) is not None:
                continue
            if version_hash == proposal.current_version and proposal.state == State.open.value:
                await record_signature(session, proposal, version_hash, signer, proof)
            else:
                await record_past_signature(session, proposal, version_hash, signer, proof)


async def _record_carried_activities(
    session: AsyncSession, proposal: Proposal, document: dict, verified: dict[str, str | None]
) -> None:
    """The declines, then (once agreement is checked) the withdrawals the origin passes on."""
    for decline_ in as_list(document.get("declines")):
        signer = _carried_signer(decline_, verified)
        await _tolerate_conflict(record_decline(session, proposal, signer, decline_.get("version"), decline_))
    await maybe_agree(session, proposal)
    for leave in as_list(document.get("withdrawals")):
        signer = _carried_signer(leave, verified)
        await _tolerate_conflict(record_withdrawal(session, proposal, signer, leave))


async def _tolerate_conflict(step) -> None:
    """A carried decline or withdrawal that no longer applies here (say, after expiry) is skipped, not fatal."""
    try:
        await step
    except Refusal as error:
        if error.status != 409:
            raise
        log.info("skipping a carried activity: %s", error.message)


def _verified_signer(proof, verified: dict[str, str | None]) -> str:
    value = proof.get("proofValue") if isinstance(proof, dict) else None
    signer = verified.get(value) if isinstance(value, str) else None
    if signer is None:
        raise Refusal(403, "a proof does not verify against its signer's published key")
    return signer


def _carried_signer(activity, verified: dict[str, str | None]) -> str:
    """The actor of a signed activity the origin passes on, once its own proof is verified."""
    if not isinstance(activity, dict):
        raise Refusal(400, "a carried activity must be an object")
    proofs = as_list(activity.get("proof"))
    if len(proofs) != 1:
        raise Refusal(403, "a carried activity must carry its actor's proof")
    signer = _verified_signer(proofs[0], verified)
    if signer != id_of(activity.get("actor")):
        raise Refusal(403, "a carried activity is signed by someone other than its actor")
    return signer
