"""CLI commands of forum spaces: space create|join|post|threads|moderate|modlog|reports|list, and reply."""

from __future__ import annotations

import json
import sys

from sqlalchemy import select

from federation.actors import ActorError, parse_handle, resolve_handle
from federation.refusal import Refusal
from federation.spaces.moderation import (
    change_moderators,
    moderate_ban,
    moderate_lock,
    moderate_pin,
    moderate_remove,
    moderate_unban,
    moderate_unlock,
    moderate_unpin,
)
from federation.spaces.posting import join_space, publish, reply
from federation.spaces.rules import may_moderate
from federation.spaces.store import (
    SpaceView,
    create_space,
    local_space_by_slug,
    post_by_uri,
    space_of_actor,
)
from federation.urls import INSTANCE_ACTOR
from federation.vocabulary import iso_or_none
from models import Actor, Follow, FollowState, Object
from models.actor import actor_by_handle, local_actor
from models.space import ModerationEntry, Space, SpacePost, SpaceReport
from server.commands.errors import CliError
from server.config import open_instance


async def _local(session, name: str) -> Actor:
    actor = await local_actor(session, name)
    if actor is None or actor.username == INSTANCE_ACTOR:
        raise CliError(f"no local movement or member called {name!r}")
    if await space_of_actor(session, actor) is not None:
        raise CliError(f"{name!r} is a space, not a movement or member")
    return actor


async def _space_actor(fed, handle: str, fetch: bool = True) -> Actor:
    """A space by handle: local by slug, remote from what we know (or WebFinger when allowed)."""
    name, host = parse_handle(handle if "@" in handle else f"{handle}@{fed.settings.host}")
    async with fed.db.session() as session:
        if host == fed.settings.host.lower():
            view = await local_space_by_slug(session, name)
            if view is None:
                raise CliError(f"no space called {name!r} on this instance")
            return view.actor
        known = await actor_by_handle(session, name, host)
    if known is None and not fetch:
        raise CliError(f"this instance knows no space {name}@{host}")
    actor = known or await resolve_handle(fed, handle)
    if actor.type != "Group":
        raise CliError(f"{handle} is not a space (it is a {actor.type})")
    return actor


async def cmd_space_create(args) -> None:
    async with open_instance(args.data) as fed:
        movements = [await resolve_handle(fed, h) for h in args.members_only or []]
        for movement in movements:
            if movement.type != "Group":
                raise CliError(f"{movement.handle} is not a movement")
        async with fed.db.session() as session:
            owner = await _local(session, args.movement)
            moderators = [await _local(session, name) for name in args.moderator or []]
            view = await create_space(
                session,
                fed,
                args.slug,
                args.name,
                owner,
                args.description,
                args.rules,
                [await session.get(Actor, m.id) for m in movements],
                moderators,
            )
        print(view.actor.uri)


async def cmd_space_join(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            member = await _local(session, args.actor)
        space_actor = await _space_actor(fed, args.space)
        state = await join_space(fed, member, space_actor)
        print(f"{args.actor} joined {space_actor.uri} ({state})")


def _text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


async def cmd_space_post(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            author = await _local(session, args.actor)
        space_actor = await _space_actor(fed, args.space)
        obj = await publish(fed, author, space_actor, _text(args.text), title=args.title)
        print(obj.uri)


async def cmd_reply(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            author = await _local(session, args.actor)
        obj = await reply(fed, author, args.object_url, _text(args.text))
        print(obj.uri)


async def thread_rows(session, space: Space) -> list[dict]:
    rows = (
        await session.execute(
            select(SpacePost, Object, Actor.uri.label("author"))
            .join(Object, Object.id == SpacePost.object_id)
            .outerjoin(Actor, Actor.id == SpacePost.author_id)
            .where(
                SpacePost.space_id == space.id, SpacePost.is_thread.is_(True), SpacePost.removed_at.is_(None)
            )
            .order_by(SpacePost.last_activity_at.desc(), SpacePost.id.desc())
        )
    ).all()
    return [
        {
            "id": o.uri,
            "name": o.name,
            "attributedTo": author,
            "replies": p.reply_count,
            "updated": iso_or_none(p.last_activity_at),
            "published": iso_or_none(o.published),
            "locked": p.locked,
            "pinned": p.pinned,
        }
        for p, o, author in rows
    ]


async def cmd_space_threads(args) -> None:
    async with open_instance(args.data) as fed:
        space_actor = await _space_actor(fed, args.space, fetch=False)
        async with fed.db.session() as session:
            space = await space_of_actor(session, space_actor)
            rows = await thread_rows(session, space) if space is not None else []
    for row in rows:
        print(
            json.dumps(row, ensure_ascii=False)
            if args.json
            else f"{row['updated']}  {row['replies']:>4} replies  {row['name']}  ({row['id']})"
            + ("  [locked]" if row["locked"] else "")
        )


async def cmd_space_moderate(args) -> None:
    async with open_instance(args.data) as fed:
        space_actor = await _space_actor(fed, args.space, fetch=False)
        target_actor = None
        if args.action in ACTOR_ACTIONS:
            target_actor = (
                await resolve_handle(fed, args.target)
                if "@" in args.target and "://" not in args.target
                else await _actor_by_uri(fed, args.target)
            )
        async with fed.db.session() as session:
            space = await space_of_actor(session, space_actor)
            if space is None or not space.local:
                raise CliError("only spaces hosted here can be moderated here")
            view = SpaceView(space, await session.get(Actor, space_actor.id))
            moderator = await _local(session, args.as_)
            if not await may_moderate(session, space, moderator):
                raise CliError(f"{args.as_} is not a moderator of {space_actor.username}")
            try:
                if target_actor is not None:
                    target = await session.get(Actor, target_actor.id)
                    if args.action in ("add-moderator", "remove-moderator"):
                        activity = await change_moderators(
                            session, fed, view, target, args.action == "add-moderator", moderator, args.reason
                        )
                        if activity is None:
                            print("nothing to change")
                            return
                    else:
                        action = moderate_ban if args.action == "ban" else moderate_unban
                        activity = await action(session, fed, view, target, args.reason, moderator)
                else:
                    post = await post_by_uri(session, args.target)
                    if post is None or post.space_id != space.id:
                        raise CliError(f"{args.target} is not a post of this space")
                    action = POST_ACTIONS[args.action]
                    activity = await action(session, fed, view, post, args.reason, moderator)
            except Refusal as error:
                raise CliError(error.message) from None
        print(activity.uri)


ACTOR_ACTIONS = ("ban", "unban", "add-moderator", "remove-moderator")
POST_ACTIONS = {
    "remove": moderate_remove,
    "lock": moderate_lock,
    "unlock": moderate_unlock,
    "pin": moderate_pin,
    "unpin": moderate_unpin,
}


async def cmd_space_modlog(args) -> None:
    """The space's moderation log, newest first (as this instance knows it)."""
    async with open_instance(args.data) as fed:
        space_actor = await _space_actor(fed, args.space, fetch=False)
        async with fed.db.session() as session:
            space = await space_of_actor(session, space_actor)
            rows = (
                (
                    await session.execute(
                        select(ModerationEntry, Actor.uri)
                        .outerjoin(Actor, Actor.id == ModerationEntry.moderator_id)
                        .where(ModerationEntry.space_id == space.id)
                        .order_by(ModerationEntry.id.desc())
                        .limit(args.limit)
                    )
                ).all()
                if space is not None
                else []
            )
    for entry, moderator in rows:
        row = {
            "at": iso_or_none(entry.created_at),
            "moderator": moderator,
            "action": entry.action,
            "target": entry.target_uri,
            "reason": entry.reason,
        }
        print(
            json.dumps(row, ensure_ascii=False)
            if args.json
            else f"{row['at']}  {row['action']:16} {row['target']}  by {moderator or 'the space'}"
            + (f"  ({entry.reason})" if entry.reason else "")
        )


async def cmd_space_reports(args) -> None:
    """Open reports of a space hosted here (all with --all)."""
    async with open_instance(args.data) as fed:
        space_actor = await _space_actor(fed, args.space, fetch=False)
        async with fed.db.session() as session:
            space = await space_of_actor(session, space_actor)
            if space is None or not space.local:
                raise CliError("only spaces hosted here have reports here")
            query = (
                select(SpaceReport).where(SpaceReport.space_id == space.id).order_by(SpaceReport.id.desc())
            )
            if not args.all:
                query = query.where(SpaceReport.resolved.is_(False))
            reports = (await session.scalars(query)).all()
    for r in reports:
        row = {
            "id": r.id,
            "at": iso_or_none(r.created_at),
            "reporter": r.reporter_uri,
            "object": r.object_uri,
            "reason": r.reason,
            "resolved": r.resolved,
        }
        print(
            json.dumps(row, ensure_ascii=False)
            if args.json
            else f"#{r.id} {row['at']}  {r.object_uri}  by {r.reporter_uri}: {r.reason or ''}"
            + ("  [resolved]" if r.resolved else "")
        )


async def _actor_by_uri(fed, uri: str) -> Actor:
    from federation.actors import get_actor

    try:
        return await get_actor(fed, uri)
    except ActorError as error:
        raise CliError(str(error)) from None


async def cmd_space_list(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            followed = (
                select(Follow.followee_id)
                .join(Actor, Actor.id == Follow.follower_id)
                .where(Actor.local.is_(True), Follow.state == FollowState.accepted.value)
            )
            rows = (
                await session.execute(
                    select(Space, Actor)
                    .join(Actor, Actor.id == Space.actor_id)
                    .where(Space.local.is_(True) | Space.actor_id.in_(followed))
                    .order_by(Actor.host, Actor.username)
                )
            ).all()
    for space, actor in rows:
        row = {
            "id": actor.uri,
            "handle": actor.handle,
            "name": actor.name,
            "local": space.local,
            "visibility": space.visibility,
        }
        print(
            json.dumps(row, ensure_ascii=False)
            if args.json
            else f"{actor.handle:40} {row['visibility']:8} {actor.name}"
        )


def add_commands(sub) -> None:
    space = sub.add_parser("space", help="forum spaces: create, join, post, list threads, moderate")
    actions = space.add_subparsers(dest="action", required=True)

    p = actions.add_parser("create", help="create a space owned by a local movement; prints its actor URL")
    p.add_argument("slug")
    p.add_argument("--name", required=True)
    p.add_argument("--movement", required=True, help="the local movement that owns the space")
    p.add_argument(
        "--members-only",
        action="append",
        metavar="MOVEMENT_HANDLE",
        help="only members of this movement (and the owner's) may join and post; repeatable",
    )
    p.add_argument("--description", help="what the space is for (Markdown)")
    p.add_argument("--rules", help="the space's rules (Markdown)")
    p.add_argument(
        "--moderator",
        action="append",
        metavar="MEMBER",
        help="a local member who moderates (the owner's admins always do); repeatable",
    )
    p.set_defaults(run=cmd_space_create)

    p = actions.add_parser("join", help="a local actor follows a space (local or remote)")
    p.add_argument("actor")
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.set_defaults(run=cmd_space_join)

    p = actions.add_parser("post", help="open a thread in a space; prints the thread's URL")
    p.add_argument("actor")
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.add_argument("--title", required=True)
    p.add_argument("text", help="Markdown, or - to read stdin")
    p.set_defaults(run=cmd_space_post)

    p = actions.add_parser("threads", help="a space's threads as this instance knows them, most active first")
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_space_threads)

    p = actions.add_parser(
        "moderate",
        help="remove a post, lock/unlock or pin/unpin a thread, ban/unban an actor, add/remove a moderator",
    )
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.add_argument("--as", dest="as_", required=True, metavar="MEMBER")
    p.add_argument("action", choices=(*POST_ACTIONS, *ACTOR_ACTIONS))
    p.add_argument(
        "target",
        help="post URL (remove, lock, unlock, pin, unpin) or actor handle/URL (ban, unban, add-moderator, "
        "remove-moderator)",
    )
    p.add_argument("--reason")
    p.set_defaults(run=cmd_space_moderate)

    p = actions.add_parser("modlog", help="a space's moderation log, newest first")
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(run=cmd_space_modlog)

    p = actions.add_parser("reports", help="open reports (Flags) of a space hosted here")
    p.add_argument("space", metavar="SPACE_HANDLE")
    p.add_argument("--all", action="store_true", help="resolved ones too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_space_reports)

    p = actions.add_parser("list", help="spaces hosted here and spaces local actors follow")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_space_list)

    p = sub.add_parser(
        "reply", help="reply to a post (inside its space when it has one); prints the reply's URL"
    )
    p.add_argument("actor")
    p.add_argument("object_url")
    p.add_argument("text", help="Markdown, or - to read stdin")
    p.set_defaults(run=cmd_reply)
