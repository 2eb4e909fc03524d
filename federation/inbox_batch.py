"""Bulk storing of plain posts: many journaled Creates (embedded object, known author, no local actor
named) stored in one transaction -- activities, objects, hashtags, timeline entries of local followers.

The inbox worker (federation/inbox_worker.py) runs store_posts in the transaction that also marks their
journal entries done. What needs more than storing (an unknown actor, an object we already hold, a
duplicate within the batch) is handed back to the general path in federation/inbox.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from federation.content import published_of, remote_object_fields
from federation.hashtags import tag_names
from federation.vocabulary import audience_of, id_of, reaches_followers
from models import Activity, Actor, Follow, FollowState, Object, TimelineEntry, utcnow
from models.base import insert_rows
from models.interaction import Hashtag

log = logging.getLogger(__name__)
ACCEPTED = (202, "accepted")
DUPLICATE = (202, "already received")


@dataclass
class PlainPost:
    """A journaled plain post: its document, its JSON text as received, and the actor inbox it came to."""

    document: dict
    payload: str
    recipient_id: int | None


# Built once: the lists go in as expanding parameters, so a batch does not rebuild the statements.
_ACTORS_NAMED = select(Actor.id, Actor.uri, Actor.followers_url).where(
    Actor.uri.in_(bindparam("uris", expanding=True))
)
_KNOWN_ACTIVITIES = select(Activity.uri).where(Activity.uri.in_(bindparam("uris", expanding=True)))
_KNOWN_OBJECTS = select(Object.uri).where(Object.uri.in_(bindparam("uris", expanding=True)))
_LOCAL_FOLLOWERS = (
    select(Follow.followee_id, Follow.follower_id)
    .join(Actor, Actor.id == Follow.follower_id)
    .where(
        Follow.followee_id.in_(bindparam("ids", expanding=True)),
        Follow.state == FollowState.accepted.value,
        Actor.local.is_(True),
    )
)


def store_posts(conn: Connection, batch: list[PlainPost]) -> list[tuple[int, str] | None]:
    """One transaction for the whole batch: activities, objects, hashtags, timeline entries of local followers."""
    answers: list[tuple[int, str] | None] = [None] * len(batch)
    activities, objects, timeline = Activity.__table__, Object.__table__, TimelineEntry.__table__
    now = utcnow()
    actors = {
        row.uri: row
        for row in conn.execute(
            _ACTORS_NAMED, {"uris": list({id_of(p.document["actor"]) for p in batch})}
        ).all()
    }
    known = set(conn.scalars(_KNOWN_ACTIVITIES, {"uris": [p.document["id"] for p in batch]}).all())
    known_objects = set(
        conn.scalars(_KNOWN_OBJECTS, {"uris": [p.document["object"]["id"] for p in batch]}).all()
    )

    chosen: list[tuple[int, PlainPost, object]] = []
    seen: set[str] = set()
    for index, post in enumerate(batch):
        uri, object_uri = post.document["id"], post.document["object"]["id"]
        actor = actors.get(id_of(post.document["actor"]))
        if uri in known:
            answers[index] = DUPLICATE
        elif actor is not None and object_uri not in known_objects and not {uri, object_uri} & seen:
            seen |= {uri, object_uri}
            chosen.append((index, post, actor))
    if not chosen:
        return answers

    activity_ids = insert_rows(
        conn,
        activities,
        [
            {
                "uri": post.document["id"],
                "type": "Create",
                "actor_id": actor.id,
                "local": False,
                "object_uri": post.document["object"]["id"],
                "payload": post.payload,
                "created_at": now,
            }
            for _, post, actor in chosen
        ],
    )
    object_ids = insert_rows(
        conn,
        objects,
        [
            {
                "uri": post.document["object"]["id"],
                "local": False,
                "attributed_to_id": actor.id,
                "published": published_of(post.document["object"]),
                "updated": None,
                "deleted_at": None,
                **remote_object_fields(post.document["object"], actor.followers_url),
            }
            for _, post, actor in chosen
        ],
    )
    tags = [
        {"name": name, "object_id": object_id}
        for (_, post, _), object_id in zip(chosen, object_ids)
        for name in tag_names(post.document["object"])
    ]
    insert_rows(conn, Hashtag.__table__, tags)

    # Local followers see what is public or addressed to the poster's followers.
    to_followers = {
        actor.id
        for _, post, actor in chosen
        if reaches_followers(
            audience_of(post.document) | audience_of(post.document["object"]), actor.followers_url
        )
    }
    followers: dict[int, set[int]] = defaultdict(set)
    if to_followers:
        for followee, follower in conn.execute(_LOCAL_FOLLOWERS, {"ids": list(to_followers)}).all():
            followers[followee].add(follower)
    entries = []
    for (_, post, actor), activity_id, object_id in zip(chosen, activity_ids, object_ids):
        owners = set(followers[actor.id]) if actor.id in to_followers else set()
        if post.recipient_id is not None:
            owners.add(post.recipient_id)
        entries += [
            {
                "owner_id": owner,
                "object_id": object_id,
                "via_actor_id": actor.id,
                "activity_id": activity_id,
                "created_at": now,
            }
            for owner in owners
        ]
    insert_rows(conn, timeline, entries)
    for index, _, _ in chosen:
        answers[index] = ACCEPTED
    return answers
