"""What members do to posts of spaces after writing them: edit, delete, like, unlike, report; the space
hears of each (a local space Announces it at once, a remote one gets the activity in its inbox)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.edits import edit_note
from federation.interactions import favourite, unfavourite
from federation.outbox import delete_note, queue_deliveries, store_activity
from federation.refusal import Refusal
from federation.spaces.moderation import record_report
from federation.spaces.posting import accept_change, activity_payload, announce, render_with_mentions
from federation.spaces.rules import is_banned
from federation.spaces.store import SpaceView, post_by_uri, remove_post, space_view_of_post
from federation.vocabulary import AS
from models import Activity, Actor, Delivery, Object


async def _space_hears(session: AsyncSession, fed: Federation, obj: Object, activity: Activity, actor: Actor):
    """A local space relays the activity to its followers; a remote one is sent it (unless it already is)."""
    post = await post_by_uri(session, obj.uri)
    if post is None:
        return
    view = await space_view_of_post(session, post)
    if view.space.local:
        await accept_change(session, fed, view, activity_payload(activity), actor, post)
    else:
        await _send_to_space(session, activity, actor, view)


async def _send_to_space(session: AsyncSession, activity: Activity, actor: Actor, view: SpaceView) -> None:
    """Queues the activity for a remote space's inbox unless it already goes there (the author's host)."""
    inbox = view.actor.delivery_inbox or view.actor.inbox
    queued = await session.scalar(
        select(Delivery.id).where(Delivery.activity_id == activity.id, Delivery.inbox == inbox).limit(1)
    )
    if queued is None:
        await queue_deliveries(session, activity, actor, [inbox])


async def _own_post(session: AsyncSession, author: Actor, obj: Object) -> Object:
    obj = await session.get(Object, obj.id)
    if obj is None or obj.deleted_at is not None:
        raise Refusal(404, "no such post")
    if obj.attributed_to_id != author.id or not obj.local:
        raise Refusal(403, "only the author may edit or delete a post")
    return obj


async def _not_banned(session: AsyncSession, actor: Actor, obj: Object) -> None:
    post = await post_by_uri(session, obj.uri)
    if post is not None:
        view = await space_view_of_post(session, post)
        if await is_banned(session, view.space, actor.uri):
            raise Refusal(403, f"{actor.uri} is banned from this space")


async def edit_post(
    fed: Federation, author: Actor, obj: Object, text: str, title: str | None = None
) -> Object:
    """The author edits a post; the earlier version is kept and an Update goes out (via its space)."""
    if not text.strip():
        raise Refusal(400, "nothing to post: the text is empty")
    if obj.name is not None and title is not None and not title.strip():
        raise Refusal(400, "a thread needs a title")
    rendered = await render_with_mentions(fed, text)
    async with fed.db.session() as session:
        author = await session.get(Actor, author.id)
        obj = await _own_post(session, author, obj)
        await _not_banned(session, author, obj)
        activity = await edit_note(session, fed, author, obj, text, rendered, (title or "").strip() or None)
        if activity is not None:
            await _space_hears(session, fed, obj, activity, author)
    fed.deliveries_queued.set()
    return obj


async def delete_post(session: AsyncSession, fed: Federation, author: Actor, obj: Object) -> Activity:
    """The author deletes a post: a Tombstone stays, a Delete goes out, and its space drops it."""
    obj = await _own_post(session, author, obj)
    post = await post_by_uri(session, obj.uri)
    activity = await delete_note(session, fed, author, obj)
    if post is not None:
        view = await space_view_of_post(session, post)
        if view.space.local:
            await remove_post(session, post)
            await announce(session, fed, view, activity_payload(activity))
        else:
            await _send_to_space(session, activity, author, view)
    return activity


async def like_post(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Activity | None:
    """Likes a post once; the author and the post's space hear of it."""
    await _not_banned(session, actor, obj)
    activity = await favourite(session, fed, actor, obj)
    if activity is not None:
        await _space_hears(session, fed, obj, activity, actor)
    return activity


async def unlike_post(session: AsyncSession, fed: Federation, actor: Actor, obj: Object) -> Activity | None:
    activity = await unfavourite(session, fed, actor, obj)
    if activity is not None:
        await _space_hears(session, fed, obj, activity, actor)
    return activity


async def report_post(
    session: AsyncSession, fed: Federation, reporter: Actor, obj: Object, reason: str | None
) -> Activity | None:
    """A Flag of a post to its space's moderators (stored at once for a local space, sent to a remote one)."""
    post = await post_by_uri(session, obj.uri)
    if post is None:
        raise Refusal(404, "that post is not in a space")
    view: SpaceView = await space_view_of_post(session, post)
    flag = {
        "@context": AS,
        "id": fed.urls.new_activity(),
        "type": "Flag",
        "actor": reporter.uri,
        "to": [view.actor.uri],
        "audience": view.actor.uri,
        "object": obj.uri,
    }
    if reason:
        flag["summary"] = reason
    activity = await store_activity(session, reporter, flag)
    if view.space.local:
        await record_report(session, view, reporter, flag)
    else:
        await _send_to_space(session, activity, reporter, view)
    return activity
