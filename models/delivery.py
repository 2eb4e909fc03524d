"""The durable delivery queue and its state machine."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.types import IdType


class DeliveryState(str, enum.Enum):
    queued = "queued"
    delivering = "delivering"
    delivered = "delivered"
    retrying = "retrying"
    failed = "failed"


S = DeliveryState
# The one table of allowed moves. A "delivering" row whose lease ran out (the worker
# crashed) goes back to "retrying", so nothing claimed is ever lost.
TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    S.queued: frozenset({S.delivering, S.failed}),
    S.delivering: frozenset({S.delivered, S.retrying, S.failed}),
    S.retrying: frozenset({S.delivering, S.failed}),
    S.delivered: frozenset(),
    S.failed: frozenset({S.queued}),  # an operator may requeue
}


def sources_of(target: DeliveryState) -> list[str]:
    """States from which a row may move to `target` (used in UPDATE ... WHERE state IN)."""
    return [src.value for src, targets in TRANSITIONS.items() if target in targets]


def check_transition(source: str, target: DeliveryState) -> None:
    if target not in TRANSITIONS[DeliveryState(source)]:
        raise ValueError(f"delivery cannot go from {source} to {target.value}")


# States in which a row is waiting for the worker.
PENDING = (S.queued.value, S.retrying.value)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    signer_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    inbox: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.queued.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_deliveries_pending", "state", "next_attempt_at"),
        Index("ix_deliveries_activity_inbox", "activity_id", "inbox", unique=True),
    )
