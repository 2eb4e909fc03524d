"""Internal decisions of a movement (polls on a proposal version), their votes, and movement settings."""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType, JsonType


class DecisionState(str, Enum):
    open = "open"
    closed = "closed"
    void = "void"  # the proposal was amended: the poll was about a version that is no longer current
    cancelled = "cancelled"


D = DecisionState

# (state, event) -> next state; anything else is refused.
DECISION_TRANSITIONS: dict[tuple[DecisionState, str], DecisionState] = {
    (D.open, "vote"): D.open,
    (D.open, "close"): D.closed,
    (D.open, "void"): D.void,
    (D.open, "cancel"): D.cancelled,
}

# The kinds of poll and their options, in the order shown.
KINDS: dict[str, tuple[str, ...]] = {
    "consent": ("consent", "object"),
    "agree": ("agree", "abstain", "disagree", "block"),
}


class DecisionTransitionError(Exception):
    """An event the decision lifecycle does not allow in the decision's current state."""

    def __init__(self, state: str, event: str):
        super().__init__(f"cannot {event} a decision that is {state}")
        self.state = state
        self.event = event


def next_decision_state(state: str, event: str) -> DecisionState:
    try:
        return DECISION_TRANSITIONS[(DecisionState(state), event)]
    except (KeyError, ValueError):
        raise DecisionTransitionError(state, event) from None


class MovementSettings(Base):
    """How a movement decides: quorum, threshold, default duration, and whether signing needs a mandate."""

    __tablename__ = "movement_settings"

    movement_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True)
    quorum: Mapped[float] = mapped_column(Float, default=0.5)  # share of members who must vote
    threshold: Mapped[float] = mapped_column(Float, default=0.5)  # share of agree among agree+disagree
    require_mandate: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_results: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_hours: Mapped[int] = mapped_column(Integer, default=72)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


async def settings_of(session: AsyncSession, movement_id: int) -> MovementSettings:
    """The movement's settings (defaults when it never set any; not stored until changed)."""
    found = await session.get(MovementSettings, movement_id)
    return found or MovementSettings(
        movement_id=movement_id,
        quorum=0.5,
        threshold=0.5,
        require_mandate=False,
        hide_results=False,
        duration_hours=72,
    )


class Decision(Base):
    """A poll inside a movement, about one version of a proposal; frozen into an outcome record when closed."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), nullable=True
    )
    version_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=DecisionState.open.value)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    members_only: Mapped[bool] = mapped_column(Boolean, default=True)
    hide_results: Mapped[bool] = mapped_column(Boolean, default=False)
    quorum: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    electorate: Mapped[int] = mapped_column(Integer)  # members when it opened
    created_by_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    tally: Mapped[dict | None] = mapped_column(JsonType, nullable=True)
    # The outcome record, frozen at close: its canonical JSON and that text's SHA-256 (hex).
    record: Mapped[str | None] = mapped_column(Text, nullable=True)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_decisions_state_closes", "state", "closes_at"),
        Index("ix_decisions_proposal", "proposal_id"),
    )


class DecisionVote(Base):
    """One voter's current choice (a member's, or a follower's on an open poll)."""

    __tablename__ = "decision_votes"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    voter_uri: Mapped[str] = mapped_column(String(2048))
    member: Mapped[bool] = mapped_column(Boolean, default=True)
    choice: Mapped[str] = mapped_column(String(64))
    note_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)  # a vote sent as a Note
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_decision_votes_pair", "decision_id", "voter_uri", unique=True),)


async def votes_of(session: AsyncSession, decision_id: int) -> list[DecisionVote]:
    return list(
        (
            await session.scalars(
                select(DecisionVote).where(DecisionVote.decision_id == decision_id).order_by(DecisionVote.id)
            )
        ).all()
    )
