"""The URL scheme of local actors, objects and collections."""

from __future__ import annotations

import re
import uuid

SLUG = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?$")
INSTANCE_ACTOR = "instance.actor"


class Urls:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def actor(self, username: str) -> str:
        return f"{self.base}/actors/{username}"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    @property
    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    def new_object(self) -> str:
        return f"{self.base}/objects/{uuid.uuid4()}"

    def new_activity(self) -> str:
        return f"{self.base}/activities/{uuid.uuid4()}"

    def is_local(self, uri: str | None) -> bool:
        return bool(uri) and (uri == self.base or uri.startswith(self.base + "/"))
