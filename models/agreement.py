"""Proposals, their immutable versions, parties, signatures and lifecycle: one TRANSITIONS table."""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType, JsonType


class State(str, Enum):
    draft = "draft"
    open = "open"
    agreed = "agreed"
    declined = "declined"
    withdrawn_by_author = "withdrawn_by_author"
    expired = "expired"
    withdrawn_by_party = "withdrawn_by_party"
    superseded = "superseded"


S = State

# (state, event) -> next state. Every change of a proposal's state, local or remote, goes through
# next_state(); anything not listed is refused. Self-loops record an event that keeps the state
# (an amendment, one more signature, one party withdrawing while two or more remain).
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.draft, "publish"): S.open,
    (S.draft, "amend"): S.draft,
    (S.draft, "withdraw"): S.withdrawn_by_author,
    (S.draft, "expire"): S.expired,
    (S.open, "amend"): S.open,
    (S.open, "sign"): S.open,
    (S.open, "agree"): S.agreed,
    (S.open, "decline"): S.declined,
    (S.open, "withdraw"): S.withdrawn_by_author,
    (S.open, "expire"): S.expired,
    (S.agreed, "leave"): S.agreed,
    (S.agreed, "dissolve"): S.withdrawn_by_party,
    (S.agreed, "expire"): S.expired,
    (S.agreed, "supersede"): S.superseded,
}

# States in which the signed agreement exists (it was agreed once).
AGREED_STATES = frozenset({S.agreed, S.withdrawn_by_party, S.expired, S.superseded})


class TransitionError(Exception):
    """An event the lifecycle does not allow in the proposal's current state."""

    def __init__(self, state: str, event: str):
        super().__init__(f"cannot {event} a proposal that is {state.replace('_', ' ')}")
        self.state = state
        self.event = event


def next_state(state: str, event: str) -> State:
    """The state after event, or TransitionError."""
    try:
        return TRANSITIONS[(State(state), event)]
    except (KeyError, ValueError):
        raise TransitionError(state, event) from None


def allows(state: str, event: str) -> bool:
    return (State(state), event) in TRANSITIONS


class Proposal(Base):
    """A proposal as this instance knows it (`local` when this instance is its origin)."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    # The id every version carries, and the agreement's URL once all parties signed.
    agreement_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    author_uri: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32), default=State.draft.value)
    current_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agreed_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The agreement document (version + proof set) in its canonical JCS form, once agreed.
    agreement_canonical: Mapped[str | None] = mapped_column(Text, nullable=True)
    mediator_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    renews_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    superseded_by_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agreed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # expiry reminder
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_proposals_state_end", "state", "end_time"),)


class ProposalParty(Base):
    """A party (or the mediator) of a proposal, and what it did."""

    __tablename__ = "proposal_parties"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    actor_uri: Mapped[str] = mapped_column(String(2048))
    role: Mapped[str] = mapped_column(String(16), default="party")  # "party" or "mediator"
    position: Mapped[int] = mapped_column(Integer, default=0)
    declined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decline: Mapped[dict | None] = mapped_column(JsonType, nullable=True)  # the signed Reject
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal: Mapped[dict | None] = mapped_column(JsonType, nullable=True)  # the signed Leave

    __table_args__ = (
        Index("ix_proposal_parties_pair", "proposal_id", "actor_uri", unique=True),
        Index("ix_proposal_parties_actor", "actor_uri", "role"),
    )


class ProposalVersion(Base):
    """One immutable version of a proposal's text, named by the hash of its canonical form."""

    __tablename__ = "proposal_versions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    hash: Mapped[str] = mapped_column(String(64))
    # Order given by the origin (1, 2, ...); None while an amendment waits for the origin.
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_uri: Mapped[str] = mapped_column(String(2048))
    document: Mapped[dict] = mapped_column(JsonType)
    canonical: Mapped[str] = mapped_column(Text)  # the exact JCS text the hash and the proofs cover
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_proposal_versions_pair", "proposal_id", "hash", unique=True),)


class ProposalSignature(Base):
    """A party's Data Integrity proof over one version."""

    __tablename__ = "proposal_signatures"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    version_hash: Mapped[str] = mapped_column(String(64))
    signer_uri: Mapped[str] = mapped_column(String(2048))
    proof: Mapped[dict] = mapped_column(JsonType)
    # Who signed for the movement, why, and the internal decision that authorised it (its URL and digest).
    acted_by_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    mandate_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    mandate_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_proposal_signatures_triple", "proposal_id", "version_hash", "signer_uri", unique=True),
    )


class ProposalEvent(Base):
    """The lifecycle log: every transition, and every refused one worth remembering."""

    __tablename__ = "proposal_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_proposal_events_proposal", "proposal_id", "id"),)
