"""The one place a proposal's state changes: signatures, declines, withdrawals, amendments, expiry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from federation.agreements.store import (
    add_version,
    agreement_by_uri,
    parties_of,
    party_row,
    signature_of,
    signatures_of,
    version_of,
)
from federation.content import parse_time
from federation.context import Federation
from federation.decisions.lifecycle import void_stale
from federation.outbox import iso
from federation.proofs import canonical, content_hash
from federation.refusal import Refusal
from federation.vocabulary import id_of
from models import utcnow
from models.agreement import (
    Proposal,
    ProposalEvent,
    ProposalParty,
    ProposalSignature,
    ProposalVersion,
    State,
    TransitionError,
    allows,
    next_state,
)


def allowed_next(state: str, event: str) -> State:
    """The state after event; Refusal(409) when the TRANSITIONS table does not allow it."""
    try:
        return next_state(state, event)
    except TransitionError as error:
        raise Refusal(409, str(error)) from None


async def transition(
    session: AsyncSession,
    proposal: Proposal,
    event: str,
    actor_uri: str | None = None,
    detail: str | None = None,
) -> State:
    """Applies event through the TRANSITIONS table and logs it; Refusal(409) when not allowed."""
    new = allowed_next(proposal.state, event)
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            event=event,
            from_state=proposal.state,
            to_state=new.value,
            actor_uri=actor_uri,
            detail=detail,
        )
    )
    proposal.state = new.value
    proposal.updated_at = utcnow()
    await session.flush()
    return new


async def refresh_expiry(session: AsyncSession, proposal: Proposal, now: dt.datetime | None = None) -> bool:
    """Expires a proposal or agreement whose endTime has passed; True when it did."""
    now = now or utcnow()
    if proposal.end_time is not None and proposal.end_time <= now and allows(proposal.state, "expire"):
        await transition(session, proposal, "expire", detail=f"endTime {iso(proposal.end_time)} passed")
        return True
    return False


async def expire_due(session: AsyncSession) -> int:
    due = (
        await session.scalars(
            select(Proposal).where(
                Proposal.end_time <= utcnow(),
                Proposal.state.in_([State.draft.value, State.open.value, State.agreed.value]),
            )
        )
    ).all()
    for proposal in due:
        await refresh_expiry(session, proposal)
    return len(due)


async def _check_party(session, proposal: Proposal, actor_uri: str) -> ProposalParty:
    party = await party_row(session, proposal, actor_uri)
    if party is None:
        raise Refusal(403, f"{actor_uri} is not a party to {proposal.uri}")
    return party


SIGNATURE_DETAILS = ("acted_by", "reason", "mandate_uri", "mandate_digest")


def _apply_details(signature: ProposalSignature, details: dict | None) -> None:
    """Who acted, why, and the mandate: filled once (a copy relayed by the origin may come first)."""
    for key, value in (details or {}).items():
        column = "acted_by_uri" if key == "acted_by" else key
        if key in SIGNATURE_DETAILS and value and not getattr(signature, column):
            setattr(signature, column, value)


async def record_signature(
    session: AsyncSession,
    proposal: Proposal,
    version_hash: str,
    signer: str,
    proof: dict,
    details: dict | None = None,
) -> bool:
    """A verified proof by signer over a version: counts only on the current version of an open proposal.
    `details`: acted_by, reason, mandate_uri, mandate_digest, as the signing movement said."""
    await refresh_expiry(session, proposal)
    party = await _check_party(session, proposal, signer)
    known = await signature_of(session, proposal, version_hash, signer)
    if known is not None:
        _apply_details(known, details)
        await session.flush()
        return False
    if party.withdrawn_at is not None:
        raise Refusal(409, f"{signer} withdrew from {proposal.uri}")
    allowed_next(proposal.state, "sign")
    if await version_of(session, proposal, version_hash) is None:
        raise Refusal(409, f"the proof is over a version {proposal.uri} does not have ({version_hash[:12]}…)")
    if version_hash != proposal.current_version:
        raise Refusal(
            409,
            f"the proof is over version {version_hash[:12]}…, but the current version is "
            f"{(proposal.current_version or '')[:12]}…; signatures on another version do not count",
        )
    await transition(session, proposal, "sign", signer, detail=version_hash)
    signature = ProposalSignature(
        proposal_id=proposal.id, version_hash=version_hash, signer_uri=signer, proof=proof
    )
    _apply_details(signature, details)
    session.add(signature)
    await session.flush()
    await maybe_agree(session, proposal)
    return True


async def record_past_signature(
    session, proposal: Proposal, version_hash: str, signer: str, proof: dict
) -> None:
    """A verified proof the origin reports on an older version: kept for the record, changes no state."""
    await _check_party(session, proposal, signer)
    if await version_of(session, proposal, version_hash) is None:
        raise Refusal(409, f"the proof is over a version {proposal.uri} does not have")
    if await signature_of(session, proposal, version_hash, signer) is None:
        session.add(
            ProposalSignature(
                proposal_id=proposal.id, version_hash=version_hash, signer_uri=signer, proof=proof
            )
        )
        await session.flush()


async def maybe_agree(session: AsyncSession, proposal: Proposal) -> bool:
    """When every party has signed the current version, it becomes the agreement in force."""
    if proposal.state != State.open.value or not proposal.current_version:
        return False
    parties = await parties_of(session, proposal)
    proofs = {
        s.signer_uri: s.proof
        for s in await signatures_of(session, proposal)
        if s.version_hash == proposal.current_version
    }
    if not parties or any(p.actor_uri not in proofs for p in parties):
        return False
    version = await version_of(session, proposal, proposal.current_version)
    document = {**version.document, "proof": [proofs[p.actor_uri] for p in parties]}
    proposal.agreement_canonical = canonical(document).decode("utf-8")
    proposal.agreed_version = proposal.current_version
    proposal.agreed_at = utcnow()
    proposal.reminded_at = None  # the clock now reminds of the agreement's end, not the proposal's
    # Written even when this session read it as None: the clock may have reminded of the proposal's close
    # since (another transaction), and the agreement's end must be reminded of all the same.
    flag_modified(proposal, "reminded_at")
    await transition(session, proposal, "agree", detail=proposal.current_version)
    if proposal.renews_uri:
        old = await agreement_by_uri(session, proposal.renews_uri)
        if old is not None:
            old.superseded_by_uri = proposal.agreement_uri
            if allows(old.state, "supersede"):
                await transition(session, old, "supersede", detail=proposal.agreement_uri)
    return True


async def record_decline(
    session: AsyncSession, proposal: Proposal, actor_uri: str, version_hash: str | None, activity: dict
) -> bool:
    await refresh_expiry(session, proposal)
    party = await _check_party(session, proposal, actor_uri)
    if party.declined_at is not None:
        return False
    if version_hash and version_hash != proposal.current_version:
        raise Refusal(409, "the decline is about another version than the current one")
    await transition(session, proposal, "decline", actor_uri, detail=version_hash)
    party.declined_at = parse_time(activity.get("published")) or utcnow()
    party.decline = activity
    await session.flush()
    return True


async def record_withdrawal(
    session: AsyncSession, proposal: Proposal, actor_uri: str, activity: dict
) -> bool:
    """A signed Leave: of the proposal by its author (before agreement), or of the agreement by a party."""
    await refresh_expiry(session, proposal)
    target = id_of(activity.get("object"))
    when = parse_time(activity.get("published")) or utcnow()
    if target == proposal.uri:
        if actor_uri != proposal.author_uri:
            raise Refusal(403, "only the author may withdraw a proposal; parties decline it")
        if proposal.state == State.withdrawn_by_author.value:
            return False
        await transition(session, proposal, "withdraw", actor_uri)
        party = await party_row(session, proposal, actor_uri)
        party.withdrawn_at, party.withdrawal = when, activity
        await session.flush()
        return True
    if target != proposal.agreement_uri:
        raise Refusal(400, f"Leave names {target}, neither the proposal nor its agreement")
    party = await _check_party(session, proposal, actor_uri)
    if party.withdrawn_at is not None:
        return False
    await transition(session, proposal, "leave", actor_uri)
    party.withdrawn_at, party.withdrawal = when, activity
    await session.flush()
    remaining = [p for p in await parties_of(session, proposal) if p.withdrawn_at is None]
    if len(remaining) < 2:
        await transition(session, proposal, "dissolve", detail=f"{len(remaining)} party left")
    return True


async def accept_amendment(
    session: AsyncSession, fed: Federation, proposal: Proposal, document: dict, amender: str
) -> ProposalVersion:
    """The origin orders an amendment by a party or the mediator: it becomes the current version."""
    await refresh_expiry(session, proposal)
    if (
        await party_row(session, proposal, amender) is None
        and await party_row(session, proposal, amender, "mediator") is None
    ):
        raise Refusal(403, f"{amender} is neither a party nor the mediator")
    current = await version_of(session, proposal, proposal.current_version)
    fixed = ("@context", "type", "id", "proposal", "attributedTo", "parties", "mediator", "renews")
    if any(document.get(k) != current.document.get(k) for k in fixed):
        raise Refusal(400, "an amendment changes the text, title or dates only, not the parties or ids")
    if document.get("versionAuthor") != amender:
        raise Refusal(403, "versionAuthor must be the amending actor")
    if document.get("previousVersion") != proposal.current_version:
        raise Refusal(409, "the amendment is based on an older version; amend the current one")
    await transition(session, proposal, "amend", amender)
    version = await version_of(session, proposal, content_hash(document))
    if version is None:
        last = await session.scalar(
            select(func.max(ProposalVersion.seq)).where(ProposalVersion.proposal_id == proposal.id)
        )
        version = await add_version(session, proposal, document, (last or 0) + 1, amender)
    proposal.current_version = version.hash
    proposal.title = document.get("name") or proposal.title
    proposal.end_time = parse_time(document.get("endTime"))
    proposal.start_time = parse_time(document.get("startTime"))
    await session.flush()
    await void_stale(session, proposal)
    return version
