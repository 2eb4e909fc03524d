"""Storage: SQLAlchemy models and queries, shared by SQLite and PostgreSQL."""
from models.base import Base, Database, utcnow
from models.actor import Actor, Key
from models.follow import Follow, FollowState
from models.content import Object, Activity, TimelineEntry
from models.delivery import Delivery, DeliveryState
from models.inbox_entry import InboxEntry, InboxState
from models.setting import Setting

__all__ = [
    "Base", "Database", "utcnow", "Actor", "Key", "Follow", "FollowState", "Object",
    "Activity", "TimelineEntry", "Delivery", "DeliveryState", "InboxEntry", "InboxState", "Setting",
]

# Feature models register their tables on Base.metadata when imported.
from models import agreement, space, oauth, interaction  # noqa: E402,F401
