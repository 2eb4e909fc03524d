"""The `interpeople` command line: create and run an instance, and act as its movements and members."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import logging
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from federation import journal, outbox
from federation.actors import ActorError, create_local_actor, resolve_handle
from federation.context import Federation
from federation.delivery import deliver_now, hold_for_caller
from federation.fetch import FetchError
from federation.refusal import Refusal
from federation.settings import Settings, SettingsError
from federation.urls import INSTANCE_ACTOR
from federation.vocabulary import iso_or_none
from models import Activity, Actor, Database, Delivery, Follow, Object, TimelineEntry
from models.actor import ROLES, local_actor
from models.delivery import DeliveryState
from models.inbox_entry import InboxState
from models.migrate import upgrade
from server.commands import accounts as account_commands
from server.commands import agreements as agreement_commands
from server.commands import backup as backup_commands
from server.commands import decisions as decision_commands
from server.commands import doctor, migrate_db
from server.commands import spaces as space_commands
from server.commands.errors import CliError
from server.config import (
    ConfigError,
    config_path,
    default_database_url,
    open_instance,
    sqlite_file,
    write_settings,
)
from server.passwords import hash_password

PROG = "interpeople"
# Feature modules add subcommands with add_commands(subparsers); each sets `run` to a coroutine(args).
COMMAND_MODULES = [
    account_commands,
    agreement_commands,
    decision_commands,
    space_commands,
    doctor,
    backup_commands,
    migrate_db,
]


def emit(rows, as_json: bool, text) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if as_json else text(row))


async def need_local(session, name: str) -> Actor:
    actor = await local_actor(session, name)
    if actor is None or actor.username == INSTANCE_ACTOR:
        raise CliError(f"no local movement or member called {name!r}")
    return actor


# ---------------------------------------------------------------- init / serve / migrate


async def cmd_init(args) -> None:
    data: Path = args.data
    if config_path(data).exists():
        raise CliError(f"an instance already exists in {data}; refusing to overwrite it")
    database_url = args.database_url or default_database_url(data)
    try:
        settings = Settings(base_url=args.base_url, database_url=database_url)
    except SettingsError as error:
        raise CliError(str(error)) from None
    sqlite_path = sqlite_file(settings.database_url)
    if args.database_url and sqlite_path is not None and not sqlite_path.parent.is_dir():
        raise CliError(f"the database's folder {sqlite_path.parent} does not exist")
    created_dir = not data.exists()
    data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        await upgrade(db)
        fed = Federation(settings, db)
        async with db.session() as session:
            if await local_actor(session, INSTANCE_ACTOR) is not None:
                raise CliError("that database already holds an instance; refusing to overwrite it")
            await create_local_actor(
                session, fed, INSTANCE_ACTOR, "Application", name=settings.host, uri=fed.urls.instance_actor
            )
        values = {"base_url": settings.base_url, "database_url": settings.database_url}
        if settings.local_testing:
            values["delivery_retry_base"] = 5.0
        write_settings(data, values)
    except CliError:
        raise
    except Exception as error:
        if created_dir:
            shutil.rmtree(data, ignore_errors=True)
        raise CliError(f"could not create the instance: {error}") from None
    finally:
        await db.close()
    mode = " (local-testing mode: plain HTTP and loopback peers allowed)" if settings.local_testing else ""
    print(f"created instance {settings.base_url} in {data}{mode}")


def _default_port(base_url: str) -> int:
    port = urlsplit(base_url).port
    return port or 8000


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


async def cmd_serve(args) -> None:
    from server.app import serve, tls_context

    async with open_instance(args.data) as fed:
        cert = args.tls_cert or fed.settings.tls_cert_file
        key = args.tls_key or fed.settings.tls_key_file
        if bool(cert) != bool(key):
            raise CliError("--tls-cert and --tls-key go together: give both or neither")
        port = args.port or _default_port(fed.settings.base_url)
        try:
            ssl_context = tls_context(cert, key) if cert else None
        except (OSError, ValueError) as error:
            raise CliError(f"cannot load the TLS certificate {cert} or key {key}: {error}") from None
        try:
            await serve(fed, args.host, port, ssl_context=ssl_context)
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise CliError(f"cannot listen on {args.host}:{port}: {error.strerror}") from None
            raise


async def cmd_migrate(args) -> None:
    async with open_instance(args.data) as fed:
        await upgrade(fed.db)
    print("database is up to date")


# ---------------------------------------------------------------- movements and members


async def cmd_movement_create(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            actor = await create_local_actor(
                session, fed, args.slug, "Group", name=args.name, summary=args.summary
            )
        print(actor.uri)


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise CliError("the password (read from stdin) must have at least 8 characters")
    return password


async def cmd_member_create(args) -> None:
    password = _read_password()
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            movement = await local_actor(session, args.movement)
            if movement is None or movement.type != "Group":
                raise CliError(f"no local movement called {args.movement!r}")
            actor = await create_local_actor(
                session,
                fed,
                args.username,
                "Person",
                name=args.name or args.username,
                movement_id=movement.id,
                role=args.role,
                password_hash=hash_password(password),
            )
        print(actor.uri)


# ---------------------------------------------------------------- follows and posts


async def cmd_follow(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            follower = await need_local(session, args.actor)
        target = await resolve_handle(fed, args.handle)
        if target.id == follower.id:
            raise CliError("an actor cannot follow itself")
        async with fed.db.session() as session:
            follower = await session.get(Actor, follower.id)
            follow, activity = await outbox.follow(
                session, fed, follower, await session.get(Actor, target.id)
            )
            await hold_for_caller(session, activity)
            follow_id = follow.id
        for outcome in await deliver_now(fed, activity):
            if outcome.state == DeliveryState.failed:
                async with fed.db.session() as session:
                    await session.delete(await session.get(Follow, follow_id))
                raise CliError(f"{args.handle} refused the follow: {outcome.error}")
            if outcome.state == DeliveryState.retrying:
                print(
                    f"warning: {args.handle} is not answering; the follow stays queued and will be retried "
                    f"({outcome.error})",
                    file=sys.stderr,
                )
        async with fed.db.session() as session:
            state = (await session.get(Follow, follow_id)).state
        print(f"{args.actor} follows {target.uri} ({state})")


async def cmd_unfollow(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            follower = await need_local(session, args.actor)
        target = await resolve_handle(fed, args.handle)
        async with fed.db.session() as session:
            followed, activity = await outbox.unfollow(
                session, fed, await session.get(Actor, follower.id), await session.get(Actor, target.id)
            )
            if not followed:
                raise CliError(f"{args.actor} does not follow {args.handle}")
            await hold_for_caller(session, activity)
        await deliver_now(fed, activity)
        print(f"{args.actor} no longer follows {target.uri}")


async def cmd_post(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            author = await need_local(session, args.actor)
        mentions = [await resolve_handle(fed, handle) for handle in args.to or []]
        text = args.text if args.text != "-" else sys.stdin.read()
        if not text.strip():
            raise CliError("nothing to post: the text is empty")
        async with fed.db.session() as session:
            obj, _ = await outbox.post_note(
                session,
                fed,
                await session.get(Actor, author.id),
                text,
                [await session.get(Actor, m.id) for m in mentions],
            )
        print(obj.uri)


# ---------------------------------------------------------------- listings


async def cmd_timeline(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            owner = await need_local(session, args.actor)
            rows = (
                await session.execute(
                    select(Object, Actor.uri.label("author"))
                    .join(TimelineEntry, TimelineEntry.object_id == Object.id)
                    .outerjoin(Actor, Actor.id == Object.attributed_to_id)
                    .where(
                        TimelineEntry.owner_id == owner.id,
                        Object.deleted_at.is_(None),
                        Object.reblog_of_id.is_(None),
                    )
                    .order_by(Object.published.desc(), TimelineEntry.id.desc())
                    .limit(args.limit)
                )
            ).all()
    items = [
        {
            "id": o.uri,
            "type": o.type,
            "attributedTo": author,
            "content": o.content,
            "name": o.name,
            "inReplyTo": o.in_reply_to,
            "published": iso_or_none(o.published),
        }
        for o, author in rows
    ]
    emit(items, args.json, lambda i: f"{i['published']}  {i['attributedTo']}\n    {i['content']}")


async def _follow_rows(args, direction: str) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            actor = await need_local(session, args.actor)
            mine, theirs = (
                (Follow.followee_id, Follow.follower_id)
                if direction == "followers"
                else (Follow.follower_id, Follow.followee_id)
            )
            rows = (
                await session.execute(
                    select(Actor.uri, Actor.username, Actor.host, Follow.state, Follow.created_at)
                    .join(Follow, theirs == Actor.id)
                    .where(mine == actor.id)
                    .order_by(Follow.id)
                )
            ).all()
    items = [
        {
            "id": r.uri,
            "handle": f"{r.username}@{r.host}",
            "state": r.state,
            "since": iso_or_none(r.created_at),
        }
        for r in rows
    ]
    emit(items, args.json, lambda i: f"{i['handle']:40} {i['state']:9} {i['id']}")


async def cmd_followers(args) -> None:
    await _follow_rows(args, "followers")


async def cmd_following(args) -> None:
    await _follow_rows(args, "following")


async def cmd_deliveries(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            query = (
                select(Delivery, Activity.uri.label("activity"), Activity.type.label("activity_type"))
                .join(Activity, Activity.id == Delivery.activity_id)
                .order_by(Delivery.id.desc())
                .limit(args.limit)
            )
            if args.state:
                query = query.where(Delivery.state == args.state)
            rows = (await session.execute(query)).all()
    items = [
        {
            "id": d.id,
            "inbox": d.inbox,
            "activity": activity,
            "type": activity_type,
            "state": d.state,
            "attempts": d.attempts,
            "next_attempt": iso_or_none(d.next_attempt_at) if d.state in ("queued", "retrying") else None,
            "last_error": d.last_error,
            "created": iso_or_none(d.created_at),
        }
        for d, activity, activity_type in rows
    ]
    emit(
        items,
        args.json,
        lambda i: (
            f"{i['state']:10} {i['attempts']:>3}  {i['type']:8} {i['inbox']}"
            + (f"  ({i['last_error']})" if i["last_error"] else "")
        ),
    )


async def cmd_inbox(args) -> None:
    if args.action == "retry":
        return await cmd_inbox_retry(args)
    async with open_instance(args.data) as fed:
        items = await journal.list_entries(fed, [args.state] if args.state else None, args.limit)
    emit(
        items,
        args.json,
        lambda i: (
            f"{i['id']:>6} {i['state']:10} {i['attempts']:>3}  {i['type']:8} {i['activity']}"
            + (f"  ({i['error']})" if i["error"] else "")
        ),
    )


async def cmd_inbox_retry(args) -> None:
    if (args.id is None) == (not args.parked):
        raise CliError("name one entry (ID) or --parked")
    async with open_instance(args.data) as fed:
        count = await journal.retry_parked(fed, args.id)
    if args.id is not None and count == 0:
        raise CliError(f"no parked inbox entry {args.id}")
    print(f"{count} parked {'entry' if count == 1 else 'entries'} queued again")


# ---------------------------------------------------------------- parser


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are reported in one line, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG, description="Interpeople: federated forum spaces and co-signed agreements."
    )
    parser.add_argument(
        "--data", type=Path, help="the instance's folder (config, and the SQLite database by default)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create an instance: config, database schema and keys")
    p.add_argument(
        "--base-url",
        required=True,
        help="public URL, e.g. https://forum.example.org "
        "(http://127.0.0.1:PORT puts the instance in local-testing mode)",
    )
    p.add_argument("--database-url", help="postgresql://... (default: SQLite in the data folder)")
    p.set_defaults(run=cmd_init)

    p = sub.add_parser("serve", help="run the web server and the delivery worker")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, help="port (default: the base URL's port, else 8000)")
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve https with this certificate (PEM; for local "
        "testing: a live instance sits behind a TLS proxy); default: the tls_cert_file setting",
    )
    p.add_argument(
        "--tls-key",
        metavar="FILE",
        help="the certificate's private key (PEM); default: the tls_key_file setting",
    )
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(run=cmd_migrate)

    movement = sub.add_parser("movement", help="manage local movements").add_subparsers(
        dest="action", required=True
    )
    p = movement.add_parser("create", help="create a local movement (an ActivityPub Group)")
    p.add_argument("slug")
    p.add_argument("--name", required=True)
    p.add_argument("--summary")
    p.set_defaults(run=cmd_movement_create)
    decision_commands.add_movement_commands(movement)

    member = sub.add_parser("member", help="manage local members").add_subparsers(
        dest="action", required=True
    )
    p = member.add_parser("create", help="create a member of a movement; the password is read from stdin")
    p.add_argument("username")
    p.add_argument("--movement", required=True)
    p.add_argument("--role", choices=ROLES, default="member")
    p.add_argument("--name", help="display name (default: the username)")
    p.set_defaults(run=cmd_member_create)

    for name, fn, text in (
        ("follow", cmd_follow, "follow a remote actor (name@host[:port])"),
        ("unfollow", cmd_unfollow, "stop following an actor"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("actor", help="local movement slug or member username")
        p.add_argument("handle", help="name@host[:port]")
        p.set_defaults(run=fn)

    p = sub.add_parser("post", help="post a public Note (Markdown) to the actor's followers")
    p.add_argument("actor")
    p.add_argument("text", help="the text, or - to read it from stdin")
    p.add_argument("--to", action="append", metavar="HANDLE", help="also address and mention this actor")
    p.set_defaults(run=cmd_post)

    p = sub.add_parser("timeline", help="what an actor received from those it follows, newest first")
    p.add_argument("actor")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=cmd_timeline)

    for name, fn in (("followers", cmd_followers), ("following", cmd_following)):
        p = sub.add_parser(name, help=f"list an actor's {name}")
        p.add_argument("actor")
        p.add_argument("--json", action="store_true")
        p.set_defaults(run=fn)

    p = sub.add_parser("deliveries", help="the delivery queue, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--state", choices=[s.value for s in DeliveryState])
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(run=cmd_deliveries)

    p = sub.add_parser(
        "inbox", help="the inbox journal: received activities and their processing, newest first"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per entry")
    p.add_argument("--state", choices=[s.value for s in InboxState], help="only entries in this state")
    p.add_argument("--limit", type=int, default=200, help="at most this many entries (default 200)")
    p.set_defaults(run=cmd_inbox, action=None)
    retry = p.add_subparsers(dest="action", metavar="ACTION").add_parser(
        "retry", help="process parked entries again (the running server takes them)"
    )
    retry.add_argument("id", nargs="?", type=int, help="the entry's id")
    retry.add_argument("--parked", action="store_true", help="every parked entry")

    for module in COMMAND_MODULES:
        module.add_commands(sub)
    return parser


NEEDS_NO_DATA = {"verify"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.data is None and args.command not in NEEDS_NO_DATA:
        parser.error("--data DIR is required for this command")
    try:
        asyncio.run(args.run(args))
    except (CliError, Refusal, ActorError, ConfigError, FetchError, SettingsError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(f"{PROG}: error: the database failed: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
