"""A movement's charter: every agreement it is party to, as light rows, with its own standing."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.agreements.lifecycle import expire_due
from models.agreement import (
    Proposal,
    ProposalParty,
    State,
)

log = logging.getLogger(__name__)


def charter_status(state: str, withdrawn_at) -> str:
    """in_force / withdrawn / expired / superseded, as one party stands (it may have withdrawn itself)."""
    if withdrawn_at is not None or state == State.withdrawn_by_party.value:
        return "withdrawn"
    if state == State.superseded.value:
        return "superseded"
    if state == State.expired.value:
        return "expired"
    return "in_force"


CHARTER_COLUMNS = (Proposal.id, Proposal.uri, Proposal.agreement_uri, Proposal.local, Proposal.title, Proposal.state,
                   Proposal.agreed_version, Proposal.renews_uri, Proposal.superseded_by_uri, Proposal.agreed_at,
                   Proposal.start_time, Proposal.end_time)


async def charter(session: AsyncSession, movement_uri: str) -> list:
    """Every agreement the movement is party to, newest first, as light rows (the columns above, the
    movement's `withdrawn_at`, `status`, and `parties` in order); those due expire first."""
    await expire_due(session)
    rows = (await session.execute(
        select(*CHARTER_COLUMNS, ProposalParty.withdrawn_at)
        .join(ProposalParty, ProposalParty.proposal_id == Proposal.id)
        .where(ProposalParty.actor_uri == movement_uri, ProposalParty.role == "party",
               Proposal.agreed_version.is_not(None))
        .order_by(Proposal.agreed_at.desc(), Proposal.id.desc()))).all()
    parties: dict[int, list[tuple[str, object]]] = {}
    if rows:
        mine = select(ProposalParty.proposal_id).where(ProposalParty.actor_uri == movement_uri,
                                                       ProposalParty.role == "party")
        for proposal_id, uri, withdrawn_at in (await session.execute(
                select(ProposalParty.proposal_id, ProposalParty.actor_uri, ProposalParty.withdrawn_at)
                .where(ProposalParty.proposal_id.in_(mine), ProposalParty.role == "party")
                .order_by(ProposalParty.proposal_id, ProposalParty.position))).all():
            parties.setdefault(proposal_id, []).append((uri, withdrawn_at))
    return [CharterRow(row, charter_status(row.state, row.withdrawn_at), parties.get(row.id, [])) for row in rows]


class CharterRow:
    """One agreement of a charter: the proposal's columns, this party's standing, and every party."""

    __slots__ = ("row", "status", "members")

    def __init__(self, row, status: str, members: list[tuple[str, object]]):
        self.row, self.status, self.members = row, status, members

    def __getattr__(self, name):
        return getattr(self.row, name)

    @property
    def parties(self) -> list[str]:
        return [uri for uri, _ in self.members]

    @property
    def withdrawn_by(self) -> list[str]:
        return [uri for uri, when in self.members if when is not None]
