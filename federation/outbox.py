"""What local actors do: activities they send, stored first, then queued for every inbox."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.accounts.blocks import blocked_domains, matches
from federation.content import markdown_to_html
from federation.context import Federation
from federation.vocabulary import AS, POST_TYPES, PUBLIC, as_list, dumps, host_of, iso
from models import Activity, Actor, Delivery, Follow, FollowState, Object, TimelineEntry, utcnow
from models.actor import actors_by_uris
from models.base import insert_all_unless_present
from models.delivery import DeliveryState
from models.follow import follow_between, move_follow


async def store_activity(session: AsyncSession, actor: Actor, document: dict) -> Activity:
    """Stores a local activity with the exact JSON text every inbox will receive."""
    document = (
        {"@context": AS, **{k: v for k, v in document.items() if k != "@context"}}
        if "@context" not in document
        else document
    )
    obj = document.get("object")
    activity = Activity(
        uri=document["id"],
        type=document["type"],
        actor_id=actor.id,
        local=True,
        object_uri=obj if isinstance(obj, str) else (obj or {}).get("id"),
        payload=dumps(document),
    )
    session.add(activity)
    await session.flush()
    return activity


async def queue_deliveries(
    session: AsyncSession,
    activity: Activity,
    signer: Actor,
    inboxes: Iterable[str],
) -> int:
    """One queued delivery per distinct inbox, written in the same transaction as the activity."""
    now = utcnow()
    blocked = await blocked_domains(session)
    if blocked:  # a blocked instance gets nothing from us
        inboxes = [inbox for inbox in inboxes if matches(blocked, host_of(inbox)) is None]
    rows = [
        {
            "activity_id": activity.id,
            "signer_id": signer.id,
            "inbox": inbox,
            "host": host_of(inbox),
            "state": DeliveryState.queued.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for inbox in sorted(set(inboxes))
    ]
    if rows:
        await session.execute(insert(Delivery), rows)
    return len(rows)


async def follower_actors(session: AsyncSession, actor_id: int) -> list[Actor]:
    return list(
        (
            await session.scalars(
                select(Actor)
                .join(Follow, Follow.follower_id == Actor.id)
                .where(Follow.followee_id == actor_id, Follow.state == FollowState.accepted.value)
            )
        ).all()
    )


def remote_inboxes(actors: Iterable[Actor]) -> set[str]:
    """Inboxes to deliver to: the shared inbox when the peer has one, so each host gets one copy."""
    return {a.delivery_inbox for a in actors if not a.local and a.delivery_inbox}


async def add_to_timelines(
    session: AsyncSession,
    obj: Object,
    via: Actor,
    owners: Iterable[int],
    activity_id: int | None = None,
) -> None:
    """Puts a post (or a boost of one) on the timelines of the given local actors (once each).

    Other objects (a Tombstone, Relationship, Profile, Place ...) are stored but are no timeline posts.
    """
    owner_ids = set(owners)
    if not owner_ids or (obj.type not in POST_TYPES and obj.reblog_of_id is None):
        return
    now = utcnow()
    # Rows already there (the post came before, or is arriving by another activity now) are skipped.
    await insert_all_unless_present(
        session,
        TimelineEntry,
        ["owner_id", "object_id"],
        [
            {
                "owner_id": o,
                "object_id": obj.id,
                "via_actor_id": via.id,
                "activity_id": activity_id,
                "created_at": now,
            }
            for o in owner_ids
        ],
    )


async def local_follower_ids(session: AsyncSession, actor_id: int) -> set[int]:
    return set(
        (
            await session.scalars(
                select(Follow.follower_id)
                .join(Actor, Actor.id == Follow.follower_id)
                .where(
                    Follow.followee_id == actor_id,
                    Follow.state == FollowState.accepted.value,
                    Actor.local.is_(True),
                )
            )
        ).all()
    )


VISIBILITIES = ("public", "unlisted", "private", "direct")


def addressing(visibility: str, author: Actor, mentions: Iterable[Actor]) -> tuple[list[str], list[str]]:
    """to and cc for a post of the given visibility, as Mastodon addresses them."""
    named = [m.uri for m in mentions]
    if visibility == "public":
        return [PUBLIC], [author.followers_url, *named]
    if visibility == "unlisted":
        return [author.followers_url], [PUBLIC, *named]
    if visibility == "private":
        return [author.followers_url], named
    if visibility == "direct":
        return named, []
    raise ValueError(f"unknown visibility {visibility!r}")


async def post_note(
    session: AsyncSession,
    fed: Federation,
    author: Actor,
    text: str,
    mentions: list[Actor] = (),
    in_reply_to: str | None = None,
    extra: dict | None = None,
    visibility: str = "public",
    html: str | None = None,
    tags: list[dict] | None = None,
    spoiler_text: str | None = None,
    language: str | None = None,
) -> tuple[Object, Activity]:
    """A Note (Markdown) to the author's followers and the named actors (public unless told otherwise).

    `html` and `tags` replace the plain Markdown rendering when the caller rendered mentions and hashtags.
    """
    from federation.hashtags import index_hashtags
    from federation.notifications import notify_mentions

    urls = fed.urls
    now = utcnow()
    note_id = urls.new_object()
    to, cc = addressing(visibility, author, mentions)
    content = html if html is not None else markdown_to_html(text)
    tag = list(tags or [])
    for m in mentions:
        if not any(t.get("type") == "Mention" and t.get("href") == m.uri for t in tag):
            tag.append({"type": "Mention", "href": m.uri, "name": f"@{m.username}@{m.host}"})
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": author.uri,
        "content": content,
        "source": {"content": text, "mediaType": "text/markdown"},
        "published": iso(now),
        "to": to,
        "cc": cc,
        "url": note_id,
        "tag": tag,
    }
    if in_reply_to:
        note["inReplyTo"] = in_reply_to
    if spoiler_text:
        note["summary"] = spoiler_text
        note["sensitive"] = True
    if language:
        note["contentMap"] = {language: content}
    note.update(extra or {})
    obj = Object(
        uri=note_id,
        type="Note",
        local=True,
        attributed_to_id=author.id,
        content=note["content"],
        summary=spoiler_text or None,
        in_reply_to=in_reply_to,
        published=now,
        document=note,
        public=visibility in ("public", "unlisted"),
        visibility=visibility,
    )
    session.add(obj)
    await session.flush()
    create = {
        "@context": AS,
        "id": urls.new_activity(),
        "type": "Create",
        "actor": author.uri,
        "published": note["published"],
        "to": to,
        "cc": cc,
        "object": note,
    }
    activity = await store_activity(session, author, create)
    followers = await follower_actors(session, author.id) if visibility != "direct" else []
    await queue_deliveries(session, activity, author, remote_inboxes([*followers, *mentions]))
    local_owners = {f.id for f in followers if f.local} | {m.id for m in mentions if m.local}
    await add_to_timelines(session, obj, author, local_owners, activity.id)
    await index_hashtags(session, obj)
    await notify_mentions(
        session, author.id, obj.id, [t.get("href") for t in tag if t.get("type") == "Mention"]
    )
    return obj, activity


async def delete_note(session: AsyncSession, fed: Federation, author: Actor, obj: Object) -> Activity:
    """Deletes a local post: a Tombstone stays, and a Delete goes wherever the post went."""
    document = obj.document or {}
    named = [u for u in as_list(document.get("cc")) + as_list(document.get("to")) if isinstance(u, str)]
    delete_doc = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Delete",
        "actor": author.uri,
        "to": [PUBLIC],
        "cc": [author.followers_url, *[u for u in named if u != author.followers_url]],
        "object": {"id": obj.uri, "type": "Tombstone"},
    }
    activity = await store_activity(session, author, delete_doc)
    followers = await follower_actors(session, author.id)
    others = await actors_by_uris(session, named)
    await queue_deliveries(session, activity, author, remote_inboxes([*followers, *others]))
    await tombstone(session, obj)
    return activity


async def tombstone(session: AsyncSession, obj: Object) -> None:
    """Keeps a deleted object as a Tombstone (its id stays known) and takes it off every timeline."""
    obj.deleted_at = utcnow()
    obj.content = None
    obj.document = {"id": obj.uri, "type": "Tombstone", "formerType": obj.type}
    await session.execute(delete(TimelineEntry).where(TimelineEntry.object_id == obj.id))


async def follow(
    session: AsyncSession,
    fed: Federation,
    follower: Actor,
    target: Actor,
) -> tuple[Follow, Activity | None]:
    """Follow target: a remote target gets a Follow activity; a local one is accepted at once."""
    existing = await follow_between(session, follower.id, target.id)
    if existing is not None and existing.state == FollowState.accepted.value:
        return existing, None
    activity_id = fed.urls.new_activity()
    if existing is None:
        existing = Follow(follower_id=follower.id, followee_id=target.id, activity_uri=activity_id)
        session.add(existing)
    existing.activity_uri = activity_id
    move_follow(existing, "request")
    if target.local and target.auto_accept:
        move_follow(existing, "accept")
    await session.flush()
    if target.local:
        from federation.notifications import notify

        accepted = existing.state == FollowState.accepted.value
        await notify(session, [target.id], "follow" if accepted else "follow_request", follower.id)
        return existing, None
    document = {
        "@context": AS,
        "id": activity_id,
        "type": "Follow",
        "actor": follower.uri,
        "object": target.uri,
    }
    activity = await store_activity(session, follower, document)
    await queue_deliveries(session, activity, follower, [target.inbox])
    return existing, activity


async def unfollow(
    session: AsyncSession, fed: Federation, follower: Actor, target: Actor
) -> tuple[bool, Activity | None]:
    """Undo a follow: whether there was one, and the Undo queued for a remote target."""
    existing = await follow_between(session, follower.id, target.id)
    if existing is None:
        return False, None
    await session.execute(delete(Follow).where(Follow.id == existing.id))
    if target.local:
        return True, None
    undo = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Undo",
        "actor": follower.uri,
        "object": {
            "id": existing.activity_uri,
            "type": "Follow",
            "actor": follower.uri,
            "object": target.uri,
        },
    }
    activity = await store_activity(session, follower, undo)
    await queue_deliveries(session, activity, follower, [target.inbox])
    return True, activity


async def reply_to_follow(
    session: AsyncSession,
    fed: Federation,
    followee: Actor,
    follower: Actor,
    follow_document: dict,
    accept: bool,
) -> Activity:
    """Accept or Reject a Follow, embedding it as received so Mastodon can match it by id."""
    document = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Accept" if accept else "Reject",
        "actor": followee.uri,
        "object": {k: v for k, v in follow_document.items() if k != "@context"},
    }
    activity = await store_activity(session, followee, document)
    await queue_deliveries(session, activity, followee, [follower.inbox])
    return activity
