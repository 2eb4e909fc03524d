"""The inbox journal: every accepted activity as received, and its processing state machine."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class InboxState(str, enum.Enum):
    received = "received"
    processing = "processing"
    done = "done"
    retrying = "retrying"
    parked = "parked"
    refused = "refused"


S = InboxState
# The one table of allowed moves. A "processing" entry whose lease ran out (its process died) goes back to
# "retrying" and is taken again; an operator may send a parked entry back to "received".
TRANSITIONS: dict[InboxState, frozenset[InboxState]] = {
    S.received: frozenset({S.processing}),
    S.processing: frozenset({S.done, S.retrying, S.parked, S.refused}),
    S.retrying: frozenset({S.processing}),
    S.done: frozenset(),
    S.refused: frozenset(),
    S.parked: frozenset({S.received}),
}


def sources_of(target: InboxState) -> list[str]:
    """States from which an entry may move to `target` (used in UPDATE ... WHERE state IN)."""
    return [src.value for src, targets in TRANSITIONS.items() if target in targets]


def check_transition(source: str, target: InboxState) -> None:
    if target not in TRANSITIONS[InboxState(source)]:
        raise ValueError(f"inbox entry cannot go from {source} to {target.value}")


# States in which an entry is not finished: it holds back later entries about the same object.
UNFINISHED = (S.received.value, S.processing.value, S.retrying.value)
# States a processor claims from.
CLAIMABLE = tuple(sources_of(S.processing))
# Finished states: nothing more happens to them unless an operator retries a parked one.
FINISHED = (S.done.value, S.refused.value, S.parked.value)


class InboxEntry(Base):
    __tablename__ = "inbox_entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)  # the journal's order
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    activity_type: Mapped[str] = mapped_column(String(64))
    actor_uri: Mapped[str] = mapped_column(String(2048))
    # Entries with the same key are processed one at a time, in journal order (an Update never
    # overtakes its Create); see federation/journal.py order_key.
    order_key: Mapped[str] = mapped_column(String(2048))
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), default=InboxState.received.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_inbox_entries_state", "state", "id"),
        # The claim's "earlier unfinished entry about the same object" check seeks by key and state, so
        # it never walks the finished entries of a much-discussed object.
        Index("ix_inbox_entries_order_key", "order_key", "state", "id"),
    )


class InboxPayload(Base):
    """An entry's activity as received, written once. Kept apart from the entry's small, often-updated row:
    on SQLite an UPDATE rewrites the whole row, and a large body (up to the inbox limit) would be read and
    written again at every state change, and read by every look at a later column."""

    __tablename__ = "inbox_payloads"

    entry_id: Mapped[int] = mapped_column(
        IdType,
        ForeignKey("inbox_entries.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    payload: Mapped[str] = mapped_column(Text)
