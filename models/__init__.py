"""Storage: SQLAlchemy models and queries, shared by SQLite and PostgreSQL."""

from models.actor import Actor, Key
from models.base import Base, Database, utcnow
from models.content import Activity, Object, TimelineEntry
from models.delivery import Delivery, DeliveryState
from models.follow import Follow, FollowState
from models.inbox_entry import InboxEntry, InboxPayload, InboxState
from models.setting import Setting

__all__ = [
    "Base",
    "Database",
    "utcnow",
    "Actor",
    "Key",
    "Follow",
    "FollowState",
    "Object",
    "Activity",
    "TimelineEntry",
    "Delivery",
    "DeliveryState",
    "InboxEntry",
    "InboxPayload",
    "InboxState",
    "Setting",
]

# Feature models register their tables on Base.metadata when imported.
from models import account, agreement, decision, interaction, oauth, space, throttle  # noqa: E402,F401
