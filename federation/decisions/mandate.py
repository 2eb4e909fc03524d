"""Mandates: the passing outcome a movement's signature links, and how a receiving instance checks one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.proofs import content_hash
from federation.refusal import Refusal
from models import Actor
from models.agreement import Proposal
from models.decision import Decision, DecisionState, settings_of


async def passing_outcome(session: AsyncSession, movement: Actor, proposal: Proposal, version: str):
    """The movement's latest closed decision that passed on exactly this version (None when there is none)."""
    return await session.scalar(
        select(Decision)
        .where(
            Decision.movement_id == movement.id,
            Decision.proposal_id == proposal.id,
            Decision.version_hash == version,
            Decision.state == DecisionState.closed.value,
            Decision.outcome == "passed",
        )
        .order_by(Decision.id.desc())
        .limit(1)
    )


async def mandate_for(
    session: AsyncSession, movement: Actor, proposal: Proposal, version: str
) -> dict | None:
    """{"id", "digest"} of the outcome authorising the movement to sign this version; Refusal(409) when the
    movement requires a mandate and none passed."""
    outcome = await passing_outcome(session, movement, proposal, version)
    if outcome is not None:
        return {"id": outcome.uri, "digest": outcome.digest}
    if (await settings_of(session, movement.id)).require_mandate:
        raise Refusal(
            409,
            f"{movement.name or movement.username} signs only with a mandate: no internal decision on "
            f"version {version[:12]}… has passed; open one on the proposal page and sign once it passes",
        )
    return None


def mandate_problem(
    record: dict | None, digest: str | None, signer: str, proposal_uri: str, version: str
) -> str | None:
    """Why a fetched outcome record does not authorise this signature (None when it does)."""
    if record is None:
        return "the linked outcome does not exist"
    if not isinstance(digest, str) or content_hash(record) != digest.lower():
        return "the linked outcome does not match its digest (it changed, or is not closed)"
    if record.get("attributedTo") != signer:
        return "the linked outcome is not a decision of the signing movement"
    if record.get("proposal") != proposal_uri or record.get("version") != version:
        return "the linked outcome is about another proposal or version"
    if not record.get("closed"):
        return "the linked decision is not closed"
    if record.get("outcome") != "passed":
        return f"the linked outcome says {str(record.get('outcome')).replace('_', ' ')}, not yes"
    return None
