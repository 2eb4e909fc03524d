"""The clock of the serve process: closes decisions and proposals at their deadline on every instance (not
when someone happens to look), and reminds members before a decision closes or an agreement ends."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from urllib.parse import quote

from sqlalchemy import select, update

from federation.agreements.lifecycle import refresh_expiry
from federation.agreements.store import parties_of
from federation.context import Federation
from federation.decisions.lifecycle import close_decision, members_of_movement, tell_members
from federation.vocabulary import iso
from models import Actor, utcnow
from models.agreement import Proposal, State
from models.decision import Decision, DecisionState, DecisionVote

log = logging.getLogger(__name__)


def _claim(query, fed: Federation):
    """Rows one process takes at a time (several serve processes share a PostgreSQL database)."""
    return query if fed.db.is_sqlite else query.with_for_update(skip_locked=True)


async def _mark_reminded(session, model, row_id: int, state: str, now: dt.datetime) -> bool:
    """Marks a row reminded unless it was already, or its state changed since it was read (compare-and-set:
    the reminder goes out once, and says what is true when it goes)."""
    result = await session.execute(
        update(model)
        .where(model.id == row_id, model.reminded_at.is_(None), model.state == state)
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


class Clock:
    """Runs `tick()` every `clock_interval` seconds until stopped."""

    def __init__(self, fed: Federation):
        self.fed = fed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self.tick():
                    self.fed.deliveries_queued.set()
            except Exception:
                log.exception("clock error; continuing")
            try:
                await asyncio.wait_for(stop.wait(), self.fed.settings.clock_interval)
            except asyncio.TimeoutError:
                pass

    async def tick(self, now: dt.datetime | None = None) -> int:
        """One round; the number of things done (closings, expiries, reminders)."""
        now = now or utcnow()
        return (
            await self.close_decisions(now)
            + await self.expire_proposals(now)
            + await self.remind_voters(now)
            + await self.remind_agreements(now)
        )

    async def close_decisions(self, now: dt.datetime) -> int:
        async with self.fed.db.session() as session:
            due = (
                await session.scalars(
                    _claim(
                        select(Decision)
                        .where(Decision.state == DecisionState.open.value, Decision.closes_at <= now)
                        .limit(100),
                        self.fed,
                    )
                )
            ).all()
            for decision in due:
                await close_decision(session, self.fed, decision)
                log.info("decision %s closed: %s", decision.uri, decision.outcome)
        return len(due)

    async def expire_proposals(self, now: dt.datetime) -> int:
        async with self.fed.db.session() as session:
            due = (
                await session.scalars(
                    _claim(
                        select(Proposal)
                        .where(
                            Proposal.end_time <= now,
                            Proposal.state.in_([State.draft.value, State.open.value, State.agreed.value]),
                        )
                        .limit(100),
                        self.fed,
                    )
                )
            ).all()
            done = 0
            for proposal in due:
                done += await refresh_expiry(session, proposal, now)
        return done

    async def remind_voters(self, now: dt.datetime) -> int:
        """Members who have not voted hear from their movement once, `decision_reminder_hours` (or a quarter
        of the decision's time, when shorter) before it closes."""
        lead = dt.timedelta(hours=self.fed.settings.decision_reminder_hours)
        async with self.fed.db.session() as session:
            candidates = (
                await session.scalars(
                    _claim(
                        select(Decision)
                        .where(
                            Decision.state == DecisionState.open.value,
                            Decision.reminded_at.is_(None),
                            Decision.closes_at <= now + lead,
                        )
                        .limit(100),
                        self.fed,
                    )
                )
            ).all()
            done = 0
            for decision in candidates:
                window = min(lead, (decision.closes_at - decision.created_at) / 4)
                if decision.closes_at - now > window:
                    continue
                if not await _mark_reminded(session, Decision, decision.id, decision.state, now):
                    continue
                movement = await session.get(Actor, decision.movement_id)
                voted = set(
                    (
                        await session.scalars(
                            select(DecisionVote.voter_uri).where(DecisionVote.decision_id == decision.id)
                        )
                    ).all()
                )
                waiting = [m for m in await members_of_movement(session, movement) if m.uri not in voted]
                await tell_members(
                    session,
                    self.fed,
                    movement,
                    waiting,
                    f"Reminder: [{decision.question}]({decision.uri}) closes at {iso(decision.closes_at)}, "
                    "and you have not voted yet.",
                )
                done += 1
        return done

    async def remind_agreements(self, now: dt.datetime) -> int:
        """The members of each local party hear once that an open proposal closes soon (to sign or decline
        it), or that an agreement in force ends soon (to renew it)."""
        lead = dt.timedelta(days=self.fed.settings.agreement_reminder_days)
        async with self.fed.db.session() as session:
            ending = (
                await session.scalars(
                    _claim(
                        select(Proposal)
                        .where(
                            Proposal.state.in_([State.open.value, State.agreed.value]),
                            Proposal.reminded_at.is_(None),
                            Proposal.end_time.is_not(None),
                            Proposal.end_time <= now + lead,
                            Proposal.end_time > now,
                        )
                        .limit(100),
                        self.fed,
                    )
                )
            ).all()
            for proposal in ending:
                if not await _mark_reminded(session, Proposal, proposal.id, proposal.state, now):
                    continue  # the proposal changed meanwhile (say, agreed in another process)
                uris = [p.actor_uri for p in await parties_of(session, proposal) if p.withdrawn_at is None]
                movements = (
                    await session.scalars(
                        select(Actor).where(Actor.uri.in_(uris), Actor.local.is_(True), Actor.type == "Group")
                    )
                ).all()
                if proposal.state == State.open.value:
                    text = (
                        f"The proposal [{proposal.title}]({proposal.uri}) closes at {iso(proposal.end_time)}; "
                        "every party must sign it before then."
                    )
                else:
                    text = (
                        f"The agreement [{proposal.title}]({proposal.agreement_uri}) ends at "
                        f"{iso(proposal.end_time)}. Renew it: "
                        f"{self.fed.urls.base}/proposals/new?renews={quote(proposal.agreement_uri, safe='')}"
                    )
                for movement in movements:
                    await tell_members(
                        session, self.fed, movement, await members_of_movement(session, movement), text
                    )
        return len(ending)
