"""The one place a decision changes: opening, voting, closing into an outcome record, voiding, reminders."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.decisions.counting import count
from federation.decisions.documents import outcome_record, question_document
from federation.outbox import post_note
from federation.refusal import Refusal
from federation.vocabulary import iso
from models import Actor, utcnow
from models.agreement import Proposal, ProposalParty, State
from models.decision import (
    KINDS,
    Decision,
    DecisionState,
    DecisionTransitionError,
    DecisionVote,
    next_decision_state,
    settings_of,
    votes_of,
)

log = logging.getLogger(__name__)


def move(decision: Decision, event: str) -> None:
    """Applies event through DECISION_TRANSITIONS; Refusal(409) when it does not allow it."""
    try:
        decision.state = next_decision_state(decision.state, event).value
    except DecisionTransitionError as error:
        raise Refusal(409, str(error)) from None


async def members_of_movement(session: AsyncSession, movement: Actor) -> list[Actor]:
    """The movement's local members (Persons), who vote."""
    return list(
        (
            await session.scalars(
                select(Actor)
                .where(Actor.movement_id == movement.id, Actor.local.is_(True))
                .order_by(Actor.id)
            )
        ).all()
    )


def _check_movement(movement: Actor) -> None:
    if not movement.local or movement.type != "Group" or movement.movement_id is not None:
        raise Refusal(400, f"{movement.username} is not a local movement")


async def open_decision(
    session: AsyncSession,
    fed: Federation,
    movement: Actor,
    proposal: Proposal,
    question: str,
    kind: str,
    closes_at: dt.datetime | None = None,
    members_only: bool = True,
    hide_results: bool | None = None,
    opened_by: Actor | None = None,
) -> Decision:
    """A poll of the movement's members on the proposal's current version (deadline: the movement's default
    duration unless given); members are told, and an open poll goes to followers as a Question."""
    _check_movement(movement)
    if kind not in KINDS:
        raise Refusal(400, f"a decision is one of: {', '.join(KINDS)}")
    question = question.strip()
    if not question:
        raise Refusal(400, "a decision needs a question")
    if proposal.state != State.open.value or not proposal.current_version:
        raise Refusal(409, f"the proposal is {proposal.state.replace('_', ' ')}, not open: nothing to decide")
    is_party = await session.scalar(
        select(ProposalParty.id).where(
            ProposalParty.proposal_id == proposal.id, ProposalParty.actor_uri == movement.uri
        )
    )
    if is_party is None:
        raise Refusal(403, f"{movement.username} is neither a party nor the mediator of {proposal.uri}")
    settings = await settings_of(session, movement.id)
    now = utcnow()
    closes_at = closes_at or now + dt.timedelta(hours=settings.duration_hours)
    if closes_at <= now:
        raise Refusal(400, "the deadline is already past")
    members = await members_of_movement(session, movement)
    decision = Decision(
        uri=f"{fed.urls.base}/decisions/pending-{now.timestamp()}",
        movement_id=movement.id,
        proposal_id=proposal.id,
        version_hash=proposal.current_version,
        question=question[:2000],
        kind=kind,
        state=DecisionState.open.value,
        members_only=members_only,
        hide_results=settings.hide_results if hide_results is None else hide_results,
        quorum=settings.quorum,
        threshold=settings.threshold,
        electorate=len(members),
        created_by_uri=opened_by.uri if opened_by else movement.uri,
        closes_at=closes_at,
        created_at=now,
    )
    session.add(decision)
    await session.flush()
    decision.uri = f"{fed.urls.base}/decisions/{decision.id}"
    await session.flush()
    await tell_members(
        session,
        fed,
        movement,
        members,
        f"**{movement.name or movement.username}** asks its members: [{decision.question}]({decision.uri}) "
        f"about [{proposal.title}]({proposal.uri}). Vote before {iso(closes_at)}.",
    )
    if not members_only:
        from federation.decisions.polls import publish_question

        await publish_question(session, fed, decision, "Create")
    return decision


async def tell_members(
    session: AsyncSession, fed: Federation, movement: Actor, members: list[Actor], text: str
) -> None:
    """A direct Note from the movement to its members (a mention notification each)."""
    if members:
        await post_note(session, fed, movement, text, members, visibility="direct")


async def document_of(
    session: AsyncSession, fed: Federation, decision: Decision, final: bool = False
) -> dict:
    """The decision's Question as served now (counts hidden while open when the movement chose so)."""
    movement = await session.get(Actor, decision.movement_id)
    proposal = await session.get(Proposal, decision.proposal_id) if decision.proposal_id else None
    votes = await votes_of(session, decision.id)
    members = [v.choice for v in votes if v.member]
    followers = [v.choice for v in votes if not v.member]
    hidden = decision.hide_results and decision.state == DecisionState.open.value and not final
    counts = None
    if not hidden:
        counts = {option: 0 for option in KINDS[decision.kind]}
        for choice in members + followers:
            counts[choice] = counts.get(choice, 0) + 1
    return question_document(
        fed.urls.base, decision, movement, proposal, counts, None if hidden else len(votes)
    )


async def cast_vote(
    session: AsyncSession,
    fed: Federation,
    decision: Decision,
    voter: Actor,
    choice: str,
    note_uri: str | None = None,
) -> DecisionVote:
    """A member's vote (or a follower's, on an open poll); voting again changes the vote."""
    await close_if_due(session, fed, decision)
    if decision.state == DecisionState.closed.value:
        raise Refusal(
            409, f"the decision closed at {iso(decision.closed_at or decision.closes_at)}: no more votes"
        )
    if decision.state != DecisionState.open.value:
        raise Refusal(409, f"the decision is {decision.state}: no more votes")
    member = voter.local and voter.movement_id == decision.movement_id
    if not member and decision.members_only:
        raise Refusal(403, f"only members of the movement vote in {decision.uri}")
    if choice not in KINDS[decision.kind]:
        raise Refusal(400, f"the choices are: {', '.join(KINDS[decision.kind])}")
    move(decision, "vote")
    vote = await session.scalar(
        select(DecisionVote).where(
            DecisionVote.decision_id == decision.id, DecisionVote.voter_uri == voter.uri
        )
    )
    now = utcnow()
    if vote is None:
        vote = DecisionVote(
            decision_id=decision.id,
            voter_uri=voter.uri,
            member=member,
            choice=choice,
            note_uri=note_uri,
            created_at=now,
            updated_at=now,
        )
        session.add(vote)
    else:
        vote.choice, vote.updated_at, vote.note_uri = choice, now, note_uri or vote.note_uri
    await session.flush()
    return vote


async def close_if_due(session: AsyncSession, fed: Federation, decision: Decision) -> bool:
    if decision.state == DecisionState.open.value and decision.closes_at <= utcnow():
        await close_decision(session, fed, decision)
        return True
    return False


async def close_decision(session: AsyncSession, fed: Federation, decision: Decision) -> Decision:
    """Counts the votes, freezes the outcome record (its digest names it) and tells the members."""
    move(decision, "close")
    votes = await votes_of(session, decision.id)
    tally = count(
        decision.kind,
        [v.choice for v in votes if v.member],
        decision.electorate,
        decision.quorum,
        decision.threshold,
        [v.choice for v in votes if not v.member],
    ).as_dict()
    decision.closed_at = utcnow()
    decision.outcome = tally["outcome"]
    decision.tally = tally
    document = await document_of(session, fed, decision, final=True)
    decision.record, decision.digest = outcome_record(document, decision, tally)
    await session.flush()
    movement = await session.get(Actor, decision.movement_id)
    await tell_members(
        session,
        fed,
        movement,
        await members_of_movement(session, movement),
        f"The decision [{decision.question}]({decision.uri}) closed: **{decision.outcome.replace('_', ' ')}** "
        f"({tally['reason']}).",
    )
    if not decision.members_only:
        from federation.decisions.polls import publish_question

        await publish_question(session, fed, decision, "Update")
    return decision


async def void_stale(session: AsyncSession, proposal: Proposal) -> int:
    """Open decisions on a version that is no longer current are void (an amendment resets them)."""
    stale = (
        await session.scalars(
            select(Decision).where(
                Decision.proposal_id == proposal.id,
                Decision.state == DecisionState.open.value,
                Decision.version_hash != proposal.current_version,
            )
        )
    ).all()
    for decision in stale:
        move(decision, "void")
        decision.closed_at = utcnow()
    await session.flush()
    return len(stale)


async def decisions_on(session: AsyncSession, proposal_id: int) -> list[Decision]:
    return list(
        (
            await session.scalars(
                select(Decision).where(Decision.proposal_id == proposal_id).order_by(Decision.id)
            )
        ).all()
    )


async def vote_counts(session: AsyncSession, decision_ids: list[int]) -> dict[int, int]:
    if not decision_ids:
        return {}
    rows = await session.execute(
        select(DecisionVote.decision_id, func.count())
        .where(DecisionVote.decision_id.in_(decision_ids))
        .group_by(DecisionVote.decision_id)
    )
    return {row[0]: row[1] for row in rows}
