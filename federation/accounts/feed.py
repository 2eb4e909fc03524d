"""What a member is told on the notifications page: replies and mentions, proposals and amendments sent to
their movement, agreements coming into force, withdrawn or expiring, and moderation of their posts.

Stored notifications (models.interaction) are merged with what the proposal log and the space tables already
record, so no feature has to remember to notify. Read state is the `web-notifications` marker (a time).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models import Actor, Object, utcnow
from models.account import JoinRequest, JoinState
from models.agreement import Proposal, ProposalEvent, ProposalParty
from models.interaction import Notification
from models.oauth import Marker
from models.space import Space, SpaceBan, SpacePost

MARKER = "web-notifications"
AGREED = ("agreed", "withdrawn_by_party", "superseded")

# proposal log event -> (kind, what the member is told)
PROPOSAL_EVENTS = {
    "publish": ("proposal", "New proposal to your movement"),
    "amend": ("amendment", "Amended: an amendment cancels earlier signatures, so parties sign again"),
    "agree": ("agreement", "Agreement in force"),
    "leave": ("agreement", "A party withdrew from the agreement"),
    "dissolve": ("agreement", "Agreement withdrawn"),
    "withdraw": ("proposal", "Proposal withdrawn by its author"),
    "decline": ("proposal", "Proposal declined by a party"),
    "expire": ("agreement", "Expired"),
}
NOTIFICATION_TEXTS = {
    "mention": "mentioned you",
    "follow": "follows you",
    "follow_request": "asks to follow you",
    "favourite": "liked your post",
    "reblog": "shared your post",
    "status": "posted",
}


@dataclass
class Item:
    at: dt.datetime
    kind: str  # reply, mention, proposal, amendment, agreement, moderation, follow, ...
    text: str
    link: str | None = None
    who: Actor | None = None
    title: str | None = None
    quote: str | None = None
    unread: bool = False


def _proposal_link(proposal: Proposal) -> str:
    agreed = proposal.state in AGREED
    if proposal.local:
        return proposal.agreement_uri if agreed else proposal.uri
    return f"/{'agreements' if agreed else 'proposals'}/r/{proposal.id}"


async def read_marker(session: AsyncSession, member_id: int) -> dt.datetime | None:
    raw = await session.scalar(
        select(Marker.last_read_id).where(Marker.account_id == member_id, Marker.timeline == MARKER)
    )
    try:
        return dt.datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


async def mark_read(session: AsyncSession, member_id: int, moment: dt.datetime | None = None) -> None:
    moment = moment or utcnow()
    row = await session.scalar(
        select(Marker).where(Marker.account_id == member_id, Marker.timeline == MARKER)
    )
    if row is None:
        session.add(Marker(account_id=member_id, timeline=MARKER, last_read_id=moment.isoformat()[:32]))
    else:
        row.last_read_id = moment.isoformat()[:32]
        row.version = (row.version or 0) + 1
        row.updated_at = utcnow()


async def _replies(session, member: Actor, since, limit) -> list[Item]:
    parent, reply, thread = aliased(SpacePost), aliased(SpacePost), aliased(Object)
    query = (
        select(reply, Actor, Object, thread.name)
        .join(parent, parent.object_id == reply.parent_id)
        .join(Actor, Actor.id == reply.author_id)
        .join(Object, Object.id == reply.object_id)
        .join(thread, thread.id == reply.thread_id)
        .where(parent.author_id == member.id, reply.author_id != member.id, reply.removed_at.is_(None))
        .order_by(reply.created_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(reply.created_at > since)
    return [
        Item(
            post.created_at,
            "reply",
            "replied to your post in",
            f"/threads/{post.thread_id}",
            who,
            title or "a thread",
            excerpt(obj),
        )
        for post, who, obj, title in (await session.execute(query)).all()
    ]


async def _stored(session, member: Actor, since, limit) -> list[Item]:
    query = (
        select(Notification, Actor, Object, SpacePost.thread_id)
        .join(Actor, Actor.id == Notification.from_actor_id)
        .outerjoin(Object, Object.id == Notification.object_id)
        .outerjoin(SpacePost, SpacePost.object_id == Notification.object_id)
        .where(Notification.owner_id == member.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Notification.created_at > since)
    items = []
    for note, who, obj, thread_id in (await session.execute(query)).all():
        link = who.url or who.uri
        if obj is not None:
            link = f"/threads/{thread_id}" if thread_id else (obj.document or {}).get("url") or obj.uri
            if not isinstance(link, str):
                link = obj.uri
        items.append(
            Item(
                note.created_at,
                note.type,
                NOTIFICATION_TEXTS.get(note.type, note.type),
                link,
                who,
                None,
                excerpt(obj) if obj else None,
            )
        )
    return items


async def _proposals(session, member: Actor, since, limit) -> list[Item]:
    movement = await session.get(Actor, member.movement_id) if member.movement_id else None
    if movement is None:
        return []
    ours = select(ProposalParty.proposal_id).where(ProposalParty.actor_uri == movement.uri)
    query = (
        select(ProposalEvent, Proposal)
        .join(Proposal, Proposal.id == ProposalEvent.proposal_id)
        .where(
            ProposalEvent.proposal_id.in_(ours) | (Proposal.author_uri == movement.uri),
            ProposalEvent.event.in_(list(PROPOSAL_EVENTS)),
            or_(
                ProposalEvent.from_state != ProposalEvent.to_state,
                ProposalEvent.event.in_(["amend", "leave"]),
            ),
        )
        .order_by(ProposalEvent.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(ProposalEvent.created_at > since)
    items = []
    for event, proposal in (await session.execute(query)).all():
        if event.event == "publish" and proposal.author_uri == movement.uri:
            continue  # our own movement proposed it
        kind, text = PROPOSAL_EVENTS[event.event]
        items.append(Item(event.created_at, kind, text, _proposal_link(proposal), None, proposal.title))
    return items


async def _moderation(session, member: Actor, since, limit) -> list[Item]:
    removed = (
        select(SpacePost, Actor)
        .join(Space, Space.id == SpacePost.space_id)
        .join(Actor, Actor.id == Space.actor_id)
        .where(SpacePost.author_id == member.id, SpacePost.removed_at.is_not(None))
        .order_by(SpacePost.removed_at.desc())
        .limit(limit)
    )
    bans = (
        select(SpaceBan, Actor)
        .join(Space, Space.id == SpaceBan.space_id)
        .join(Actor, Actor.id == Space.actor_id)
        .where(SpaceBan.actor_uri == member.uri)
        .order_by(SpaceBan.id.desc())
        .limit(limit)
    )
    if since is not None:
        removed = removed.where(SpacePost.removed_at > since)
        bans = bans.where(SpaceBan.created_at > since)
    items = [
        Item(
            post.removed_at,
            "moderation",
            f"A moderator of {space.name or space.username} removed your post",
            f"/threads/{post.thread_id}",
            space,
        )
        for post, space in (await session.execute(removed)).all()
    ]
    items += [
        Item(
            ban.created_at,
            "moderation",
            f"You were banned from {space.name or space.username}"
            + (f": {ban.reason}" if ban.reason else ""),
            f"/spaces/{space.username}",
            space,
        )
        for ban, space in (await session.execute(bans)).all()
    ]
    return items


async def _join_requests(session, member: Actor, since, limit) -> list[Item]:
    """For the admins of a movement: people asking to join it, while their request waits."""
    if member.role != "admin" or member.movement_id is None:
        return []
    query = (
        select(JoinRequest)
        .where(JoinRequest.movement_id == member.movement_id, JoinRequest.state == JoinState.pending.value)
        .order_by(JoinRequest.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(JoinRequest.created_at > since)
    return [
        Item(
            r.created_at,
            "join request",
            f"{r.username} asks to join your movement",
            "/admin/members#requests",
            quote=r.message,
        )
        for r in (await session.scalars(query)).all()
    ]


SOURCES = (_stored, _replies, _proposals, _moderation, _join_requests)


async def feed(session: AsyncSession, member: Actor, limit: int = 50, since=None) -> list[Item]:
    """The member's notifications, newest first, each marked unread when newer than the marker."""
    marker = await read_marker(session, member.id)
    items: list[Item] = []
    for source in SOURCES:
        items += await source(session, member, since, limit)
    replies = {(i.who.id, i.quote) for i in items if i.kind == "reply" and i.who}
    items = [i for i in items if not (i.kind == "mention" and i.who and (i.who.id, i.quote) in replies)]
    items.sort(key=lambda i: i.at, reverse=True)
    for item in items:
        item.unread = marker is None or item.at > marker
    return items[:limit]


async def unread_count(session: AsyncSession, member: Actor, cap: int = 99) -> int:
    marker = await read_marker(session, member.id)
    return len(await feed(session, member, limit=cap, since=marker))


def excerpt(obj: Object | None, length: int = 140) -> str | None:
    """A post's title, or the start of its text without markup."""
    if obj is None:
        return None
    if obj.name:
        return obj.name[:length]
    text = re.sub(r"<[^>]+>", " ", obj.content or "")
    text = re.sub(r"\s+", " ", text).strip()
    text = html.unescape(text)
    return text[:length] + ("…" if len(text) > length else "")
