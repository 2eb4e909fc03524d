"""A Lemmy-style community (a Group whose moderators act and the group Announces it) locks, pins, unlocks
and bans, and a follower instance applies and logs each, as it does for Interpeople spaces."""

import uuid

import pytest
import requests

from tests.fake_peer import FakePeer
from tests.forum_world import text_of, threads
from tests.harness import wait_for
from tests.signing import signed_post

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"


class FakeCommunity(FakePeer):
    """`forest` is a Group (the community); `mod` moderates it and `ann` posts in it."""

    def actor_document(self, name: str) -> dict:
        document = super().actor_document(name)
        if name == "forest":
            document.update(
                type="Group",
                attributedTo=f"{document['id']}/moderators",
                featured=f"{document['id']}/featured",
            )
        return document

    def announce(self, inner: dict, inbox: str) -> requests.Response:
        group = self.actor("forest")
        document = {
            "@context": AS,
            "id": f"{self.base_url}/activities/announce/{uuid.uuid4()}",
            "type": "Announce",
            "actor": group,
            "to": [PUBLIC],
            "cc": [f"{group}/followers"],
            "object": inner,
        }
        return signed_post(inbox, document, (f"{group}#main-key", self.keys["forest"][1]))

    def by_mod(self, kind: str, obj, **fields) -> dict:
        group = self.actor("forest")
        return {
            "id": f"{self.base_url}/activities/{kind.lower()}/{uuid.uuid4()}",
            "type": kind,
            "actor": self.actor("mod"),
            "to": [PUBLIC],
            "cc": [group],
            "audience": group,
            "object": obj,
            **fields,
        }


@pytest.fixture
def community():
    peer = FakeCommunity("forest", "mod", "ann").start()
    yield peer
    peer.stop()


def test_a_communitys_announced_moderation_is_applied_and_logged(instances, community):
    b = instances.new("b")
    inbox = b.url("/inbox")
    group, handle = community.actor("forest"), f"forest@127.0.0.1:{community.port}"
    page = {
        "id": f"{community.base_url}/post/1",
        "type": "Page",
        "attributedTo": community.actor("ann"),
        "name": "Saving the old oaks",
        "content": "<p>Who joins?</p>",
        "to": [group, PUBLIC],
        "audience": group,
        "published": "2026-12-01T10:00:00Z",
    }
    create = {
        "id": f"{community.base_url}/activities/create/1",
        "type": "Create",
        "actor": community.actor("ann"),
        "to": [group, PUBLIC],
        "audience": group,
        "object": page,
    }
    assert community.announce(create, inbox).status_code in (200, 202)
    wait_for(lambda: threads(b, handle), what="the community's thread on B")

    lock = community.by_mod("Lock", page["id"], summary="too heated")
    community.announce(lock, inbox)
    wait_for(lambda: threads(b, handle)[0]["locked"], what="the moderator's lock on B")
    community.announce(community.by_mod("Add", page["id"], target=f"{group}/featured"), inbox)
    wait_for(lambda: threads(b, handle)[0]["pinned"], what="the moderator's pin on B")
    community.announce(community.by_mod("Undo", lock), inbox)
    wait_for(lambda: not threads(b, handle)[0]["locked"], what="the unlock on B")
    ban = community.by_mod("Block", community.actor("ann"), target=group, summary="spam")
    community.announce(ban, inbox)

    def log():
        return text_of(requests.get(b.url(f"/spaces/{handle}/modlog"), timeout=10).text)

    wait_for(lambda: "banned ann" in log(), what="the ban in B's log")
    assert "locked Saving the old oaks too heated" in log() and "pinned Saving the old oaks" in log()
    assert "unlocked Saving the old oaks" in log()
