"""A movement's charter: every agreement it is party to, as light rows, with its own standing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from federation.agreements.lifecycle import expire_due
from models.agreement import (
    Proposal,
    ProposalParty,
    State,
)


def charter_status(state: str, withdrawn_at) -> str:
    """in_force / withdrawn / expired / superseded, as one party stands (it may have withdrawn itself)."""
    if withdrawn_at is not None or state == State.withdrawn_by_party.value:
        return "withdrawn"
    if state == State.superseded.value:
        return "superseded"
    if state == State.expired.value:
        return "expired"
    return "in_force"


CHARTER_COLUMNS = (
    Proposal.id,
    Proposal.uri,
    Proposal.agreement_uri,
    Proposal.local,
    Proposal.title,
    Proposal.state,
    Proposal.agreed_version,
    Proposal.renews_uri,
    Proposal.superseded_by_uri,
    Proposal.agreed_at,
    Proposal.start_time,
    Proposal.end_time,
)


async def charter(session: AsyncSession, movement_uri: str) -> list:
    """Every agreement the movement is party to, newest first, as light rows (the columns above, the
    movement's `withdrawn_at`, `status`, and `parties` in order); those due expire first."""
    await expire_due(session)
    rows = (
        await session.execute(
            select(*CHARTER_COLUMNS, ProposalParty.withdrawn_at)
            .join(ProposalParty, ProposalParty.proposal_id == Proposal.id)
            .where(
                ProposalParty.actor_uri == movement_uri,
                ProposalParty.role == "party",
                Proposal.agreed_version.is_not(None),
            )
            .order_by(Proposal.agreed_at.desc(), Proposal.id.desc())
        )
    ).all()
    parties: dict[int, list[tuple[str, object]]] = {}
    if rows:
        mine = select(ProposalParty.proposal_id).where(
            ProposalParty.actor_uri == movement_uri, ProposalParty.role == "party"
        )
        for proposal_id, uri, withdrawn_at in (
            await session.execute(
                select(ProposalParty.proposal_id, ProposalParty.actor_uri, ProposalParty.withdrawn_at)
                .where(ProposalParty.proposal_id.in_(mine), ProposalParty.role == "party")
                .order_by(ProposalParty.proposal_id, ProposalParty.position)
            )
        ).all():
            parties.setdefault(proposal_id, []).append((uri, withdrawn_at))
    return [
        CharterRow(row, charter_status(row.state, row.withdrawn_at), parties.get(row.id, [])) for row in rows
    ]


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


# ---------------------------------------------------------------- one page of a charter

PAGE_SIZE = 50
GROUPS = ("in_force", "expired", "withdrawn", "superseded")  # the order a charter is read in
GRAPH_PARTNERS = 16


def status_of(party):
    """charter_status as SQL, for the party row `party` (ProposalParty or an alias of it)."""
    withdrawn = or_(party.withdrawn_at.is_not(None), Proposal.state == State.withdrawn_by_party.value)
    return case(
        (withdrawn, "withdrawn"),
        (Proposal.state == State.superseded.value, "superseded"),
        (Proposal.state == State.expired.value, "expired"),
        else_="in_force",
    )


def _rank(status):
    return case(*((status == g, n) for n, g in enumerate(GROUPS)), else_=len(GROUPS))


def _agreements_of(movement_uri: str):
    """The movement's party rows joined to its agreed proposals (FROM and WHERE of every charter query)."""
    return (
        select()
        .select_from(ProposalParty)
        .join(Proposal, Proposal.id == ProposalParty.proposal_id)
        .where(
            ProposalParty.actor_uri == movement_uri,
            ProposalParty.role == "party",
            Proposal.agreed_version.is_not(None),
        )
    )


@dataclass
class CharterPage:
    """One page of a charter (in force first, then expired, withdrawn, superseded; newest first in each),
    with what describes the whole charter: counts by status and the partners most bound with it."""

    number: int
    items: list
    counts: dict[str, int]
    partners: list[tuple[str, int]]  # (actor URI, agreements in force with it), most first
    titles: dict[str, object] = field(default_factory=dict)  # renewed/renewing agreements named on the page

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PAGE_SIZE))


async def charter_page(session: AsyncSession, movement_uri: str, number: int) -> CharterPage | None:
    """Page `number` (from 1) of the movement's charter, or None past the last page; those due expire first.
    Reads only the page's rows and parties, plus two grouped counts for the whole charter."""
    await expire_due(session)
    status = status_of(ProposalParty)
    counts = {g: 0 for g in GROUPS}
    for found, n in (
        await session.execute(_agreements_of(movement_uri).add_columns(status, func.count()).group_by(status))
    ).all():
        counts[found] = n
    page = CharterPage(number, [], counts, [])
    if number < 1 or number > page.pages:
        return None
    rows = (
        await session.execute(
            _agreements_of(movement_uri)
            .add_columns(*CHARTER_COLUMNS, ProposalParty.withdrawn_at, status.label("status"))
            .order_by(_rank(status), Proposal.agreed_at.desc(), Proposal.id.desc())
            .limit(PAGE_SIZE)
            .offset((number - 1) * PAGE_SIZE)
        )
    ).all()
    parties: dict[int, list[tuple[str, object]]] = {}
    if rows:
        for proposal_id, uri, withdrawn_at in (
            await session.execute(
                select(ProposalParty.proposal_id, ProposalParty.actor_uri, ProposalParty.withdrawn_at)
                .where(ProposalParty.proposal_id.in_([r.id for r in rows]), ProposalParty.role == "party")
                .order_by(ProposalParty.proposal_id, ProposalParty.position)
            )
        ).all():
            parties.setdefault(proposal_id, []).append((uri, withdrawn_at))
    page.items = [CharterRow(row, row.status, parties.get(row.id, [])) for row in rows]
    named = {u for r in rows for u in (r.renews_uri, r.superseded_by_uri) if u}
    if named:
        page.titles = {
            r.agreement_uri: r
            for r in (
                await session.execute(
                    select(Proposal.id, Proposal.agreement_uri, Proposal.local, Proposal.title).where(
                        Proposal.agreement_uri.in_(named)
                    )
                )
            ).all()
        }
    other = aliased(ProposalParty)
    page.partners = [
        (uri, n)
        for uri, n in (
            await session.execute(
                _agreements_of(movement_uri)
                .add_columns(other.actor_uri, func.count())
                .join(other, other.proposal_id == ProposalParty.proposal_id)
                .where(other.role == "party", other.actor_uri != movement_uri, status == "in_force")
                .group_by(other.actor_uri)
                .order_by(func.count().desc(), other.actor_uri)
                .limit(GRAPH_PARTNERS)
            )
        ).all()
    ]
    return page
