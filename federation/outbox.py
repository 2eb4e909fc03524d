"""What local actors do: activities they send, stored first, then queued for every inbox."""
from __future__ import annotations

import datetime as dt
from typing import Iterable
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.content import markdown_to_html
from federation.context import Federation
from federation.vocabulary import AS, PUBLIC, dumps
from models import Activity, Actor, Delivery, Follow, FollowState, Object, TimelineEntry, utcnow
from models.delivery import DeliveryState


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def store_activity(session: AsyncSession, actor: Actor, document: dict) -> Activity:
    """Stores a local activity with the exact JSON text every inbox will receive."""
    document = {"@context": AS, **{k: v for k, v in document.items() if k != "@context"}} \
        if "@context" not in document else document
    obj = document.get("object")
    activity = Activity(
        uri=document["id"], type=document["type"], actor_id=actor.id, local=True,
        object_uri=obj if isinstance(obj, str) else (obj or {}).get("id"), payload=dumps(document),
    )
    session.add(activity)
    await session.flush()
    return activity


async def queue_deliveries(
    session: AsyncSession, activity: Activity, signer: Actor, inboxes: Iterable[str],
) -> int:
    """One queued delivery per distinct inbox, written in the same transaction as the activity."""
    now = utcnow()
    rows = [
        {"activity_id": activity.id, "signer_id": signer.id, "inbox": inbox,
         "host": urlsplit(inbox).netloc.lower(), "state": DeliveryState.queued.value, "attempts": 0,
         "next_attempt_at": now, "created_at": now, "updated_at": now}
        for inbox in sorted(set(inboxes))
    ]
    if rows:
        await session.execute(insert(Delivery), rows)
    return len(rows)


async def follower_actors(session: AsyncSession, actor_id: int) -> list[Actor]:
    return list((await session.scalars(
        select(Actor).join(Follow, Follow.follower_id == Actor.id)
        .where(Follow.followee_id == actor_id, Follow.state == FollowState.accepted.value)
    )).all())


def remote_inboxes(actors: Iterable[Actor]) -> set[str]:
    """Inboxes to deliver to: the shared inbox when the peer has one, so each host gets one copy."""
    return {a.delivery_inbox for a in actors if not a.local and a.delivery_inbox}


async def add_to_timelines(
    session: AsyncSession, obj: Object, via: Actor, owners: Iterable[int], activity_id: int | None = None,
) -> None:
    """Puts an object on the timelines of the given local actors (once each)."""
    owner_ids = set(owners)
    if not owner_ids:
        return
    existing = set((await session.scalars(
        select(TimelineEntry.owner_id).where(TimelineEntry.object_id == obj.id, TimelineEntry.owner_id.in_(owner_ids))
    )).all())
    now = utcnow()
    rows = [{"owner_id": o, "object_id": obj.id, "via_actor_id": via.id, "activity_id": activity_id, "created_at": now}
            for o in owner_ids - existing]
    if rows:
        await session.execute(insert(TimelineEntry), rows)


async def local_follower_ids(session: AsyncSession, actor_id: int) -> set[int]:
    return set((await session.scalars(
        select(Follow.follower_id).join(Actor, Actor.id == Follow.follower_id)
        .where(Follow.followee_id == actor_id, Follow.state == FollowState.accepted.value, Actor.local.is_(True))
    )).all())


async def post_note(
    session: AsyncSession, fed: Federation, author: Actor, text: str, mentions: list[Actor] = (),
    in_reply_to: str | None = None, extra: dict | None = None,
) -> tuple[Object, Activity]:
    """A public Note (Markdown) to the author's followers and the named actors."""
    urls = fed.urls
    now = utcnow()
    note_id = urls.new_object()
    cc = [author.followers_url] + [m.uri for m in mentions]
    note = {
        "id": note_id, "type": "Note", "attributedTo": author.uri, "content": markdown_to_html(text),
        "source": {"content": text, "mediaType": "text/markdown"},
        "published": iso(now), "to": [PUBLIC], "cc": cc, "url": note_id,
        "tag": [{"type": "Mention", "href": m.uri, "name": f"@{m.username}@{m.host}"} for m in mentions],
    }
    if in_reply_to:
        note["inReplyTo"] = in_reply_to
    note.update(extra or {})
    obj = Object(uri=note_id, type="Note", local=True, attributed_to_id=author.id, content=note["content"],
                 in_reply_to=in_reply_to, published=now, document=note, public=True)
    session.add(obj)
    await session.flush()
    create = {"@context": AS, "id": urls.new_activity(), "type": "Create", "actor": author.uri,
              "published": note["published"], "to": note["to"], "cc": cc, "object": note}
    activity = await store_activity(session, author, create)
    followers = await follower_actors(session, author.id)
    await queue_deliveries(session, activity, author, remote_inboxes([*followers, *mentions]))
    local_owners = {f.id for f in followers if f.local} | {m.id for m in mentions if m.local}
    await add_to_timelines(session, obj, author, local_owners, activity.id)
    return obj, activity


async def follow(
    session: AsyncSession, fed: Federation, follower: Actor, target: Actor,
) -> tuple[Follow, Activity | None]:
    """Follow target: a remote target gets a Follow activity; a local one is accepted at once."""
    existing = await session.scalar(
        select(Follow).where(Follow.follower_id == follower.id, Follow.followee_id == target.id)
    )
    if existing is not None and existing.state == FollowState.accepted.value:
        return existing, None
    activity_id = fed.urls.new_activity()
    if existing is None:
        existing = Follow(follower_id=follower.id, followee_id=target.id, activity_uri=activity_id)
        session.add(existing)
    existing.activity_uri = activity_id
    existing.state = FollowState.accepted.value if target.local and target.auto_accept else FollowState.pending.value
    await session.flush()
    if target.local:
        return existing, None
    document = {"@context": AS, "id": activity_id, "type": "Follow", "actor": follower.uri, "object": target.uri}
    activity = await store_activity(session, follower, document)
    await queue_deliveries(session, activity, follower, [target.inbox])
    return existing, activity


async def unfollow(session: AsyncSession, fed: Federation, follower: Actor, target: Actor) -> bool:
    """Undo a follow; False when there was none."""
    existing = await session.scalar(
        select(Follow).where(Follow.follower_id == follower.id, Follow.followee_id == target.id)
    )
    if existing is None:
        return False
    await session.execute(delete(Follow).where(Follow.id == existing.id))
    if not target.local:
        undo = {
            "@context": AS, "id": fed.urls.new_activity(), "type": "Undo", "actor": follower.uri,
            "object": {"id": existing.activity_uri, "type": "Follow", "actor": follower.uri, "object": target.uri},
        }
        activity = await store_activity(session, follower, undo)
        await queue_deliveries(session, activity, follower, [target.inbox])
    return True


async def reply_to_follow(
    session: AsyncSession, fed: Federation, followee: Actor, follower: Actor, follow_document: dict, accept: bool,
) -> Activity:
    """Accept or Reject a Follow, embedding it as received so Mastodon can match it by id."""
    document = {
        "@context": AS, "id": fed.urls.new_activity(), "type": "Accept" if accept else "Reject",
        "actor": followee.uri, "object": {k: v for k, v in follow_document.items() if k != "@context"},
    }
    activity = await store_activity(session, followee, document)
    await queue_deliveries(session, activity, followee, [follower.inbox])
    return activity
