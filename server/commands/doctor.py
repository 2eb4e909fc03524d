"""`interpeople doctor`: checks an instance as peers see it from outside, one line per check."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
from sqlalchemy import func, select

from federation.fetch import USER_AGENT, client_tls
from federation.urls import INSTANCE_ACTOR
from models import Actor, Delivery, utcnow
from models.delivery import PENDING
from models.inbox_entry import UNFINISHED, InboxEntry, InboxState
from server.config import open_instance, sqlite_file

AP_JSON = "application/activity+json"
# Peers refuse signatures whose Date is off by more than about an hour (Mastodon); warn long before.
SKEW_WARN, SKEW_FAIL = 30.0, 300.0
# A due delivery waiting this long means no worker is sending (is `serve` running?).
BACKLOG_WARN_AGE, BACKLOG_FAIL_AGE = 600.0, 3600.0
GIB = 1024**3


@dataclass
class Check:
    status: str  # ok, warn or fail
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:4}  {self.name:12} {self.detail}"


class Outside:
    """HTTP as a peer would do it: the instance's public URLs, trusting the system CAs (and tls_ca_file)."""

    def __init__(self, ca_file: str, timeout: float):
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": USER_AGENT},
            connector=aiohttp.TCPConnector(ssl=client_tls(ca_file)),
        )
        self.date_header: str | None = None

    async def get_json(self, url: str, accept: str = "application/json") -> tuple[dict, float]:
        """The JSON document at url and the milliseconds it took; raises RuntimeError with a short reason."""
        started = time.monotonic()
        try:
            async with self.session.get(url, headers={"Accept": accept}) as response:
                self.date_header = response.headers.get("Date") or self.date_header
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
                document = await response.json(content_type=None)
        except asyncio.TimeoutError:
            raise RuntimeError(f"{url} did not answer in time") from None
        except aiohttp.ClientError as error:
            raise RuntimeError(f"cannot reach {url}: {error}") from None
        except ValueError:
            raise RuntimeError(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise RuntimeError(f"{url} did not answer a JSON object")
        return document, (time.monotonic() - started) * 1000

    async def close(self) -> None:
        await self.session.close()


async def check_base_url(fed, outside: Outside) -> Check:
    url = f"{fed.settings.base_url}/.well-known/nodeinfo"
    mode = " (local-testing mode: checked over http)" if fed.settings.scheme == "http" else ""
    try:
        _, ms = await outside.get_json(url)
    except RuntimeError as error:
        return Check("fail", "base URL", f"{error}{mode}")
    return Check(
        "ok", "base URL", f"{fed.settings.base_url} answers over {fed.settings.scheme} ({ms:.0f} ms){mode}"
    )


async def check_webfinger(fed, outside: Outside) -> Check:
    async with fed.db.session() as session:
        name = (
            await session.scalar(
                select(Actor.username)
                .where(Actor.local.is_(True), Actor.type == "Group")
                .order_by(Actor.id)
                .limit(1)
            )
            or INSTANCE_ACTOR
        )
    handle = f"{name}@{fed.settings.host}"
    url = f"{fed.settings.base_url}/.well-known/webfinger?resource={quote('acct:' + handle)}"
    try:
        jrd, _ = await outside.get_json(url, "application/jrd+json")
        links = [
            link for link in jrd.get("links", []) if isinstance(link, dict) and link.get("rel") == "self"
        ]
        if not links:
            return Check("fail", "webfinger", f"{handle} has no self link")
        href = links[0].get("href")
        actor, _ = await outside.get_json(href, AP_JSON)
    except RuntimeError as error:
        return Check("fail", "webfinger", str(error))
    if actor.get("id") != href:
        return Check("fail", "webfinger", f"{href} answered a document whose id is {actor.get('id')!r}")
    return Check("ok", "webfinger", f"{handle} -> {href} (actor document served)")


async def check_nodeinfo(fed, outside: Outside) -> Check:
    try:
        links, _ = await outside.get_json(f"{fed.settings.base_url}/.well-known/nodeinfo")
        hrefs = [link.get("href") for link in links.get("links", []) if isinstance(link, dict)]
        if not hrefs:
            return Check("fail", "nodeinfo", "/.well-known/nodeinfo lists no document")
        document, _ = await outside.get_json(hrefs[-1])
    except RuntimeError as error:
        return Check("fail", "nodeinfo", str(error))
    software = document.get("software") or {}
    return Check(
        "ok",
        "nodeinfo",
        f"{hrefs[-1]}: NodeInfo {document.get('version')}, {software.get('name')} {software.get('version')}",
    )


async def check_clock(outside: Outside, time_url: str | None) -> Check:
    if time_url:
        outside.date_header = None
        try:
            await outside.get_json(time_url)
        except RuntimeError:
            pass  # only its Date header matters
    if not outside.date_header:
        return Check("warn", "clock", f"no Date header from {time_url or 'the base URL'} to compare with")
    try:
        theirs = email.utils.parsedate_to_datetime(outside.date_header)
    except (TypeError, ValueError):
        return Check("warn", "clock", f"unreadable Date header {outside.date_header!r}")
    skew = (dt.datetime.now(dt.timezone.utc) - theirs).total_seconds()
    source = time_url or "the base URL"
    status = "fail" if abs(skew) > SKEW_FAIL else "warn" if abs(skew) > SKEW_WARN else "ok"
    return Check(
        status,
        "clock",
        f"{skew:+.0f} s against the Date header of {source} (peers refuse signatures about an hour off)",
    )


async def check_database(fed) -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from models.migrate import alembic_config

    def revisions(connection):
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        return heads, set(MigrationContext.configure(connection).get_current_heads())

    started = time.monotonic()
    try:
        async with fed.db.engine.connect() as conn:
            heads, current = await conn.run_sync(revisions)
    except Exception as error:  # any driver error is a failed check, reported in one line
        return Check("fail", "database", f"cannot use the database: {str(error).splitlines()[0]}")
    ms = (time.monotonic() - started) * 1000
    kind = "SQLite" if fed.db.is_sqlite else "PostgreSQL"
    if heads != current:
        return Check(
            "warn",
            "database",
            f"{kind}: migrations pending ({', '.join(sorted(current)) or 'none'} "
            "applied); `serve` or `migrate` applies them",
        )
    return Check("ok", "database", f"{kind}, schema up to date ({ms:.0f} ms)")


async def check_deliveries(fed) -> Check:
    now = utcnow()
    async with fed.db.session() as session:
        counts = dict(
            (await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
        due = select(Delivery).where(Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now)
        due_count = await session.scalar(select(func.count()).select_from(due.subquery())) or 0
        oldest = await session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now
            )
        )
    age = (now - oldest).total_seconds() if oldest else 0.0
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("queued", "delivering", "retrying", "failed"))
    status = "fail" if age > BACKLOG_FAIL_AGE else "warn" if age > BACKLOG_WARN_AGE else "ok"
    waiting = f"{due_count} due, the oldest waiting {age:.0f} s" if due_count else "none due"
    hint = " (is `serve` running?)" if status != "ok" else ""
    return Check(status, "deliveries", f"{waiting}; {summary}{hint}")


async def check_inbox(fed) -> Check:
    """The inbox journal: accepted activities still waiting for processing, and parked ones."""
    now = utcnow()
    async with fed.db.session() as session:
        waiting, oldest = (
            await session.execute(
                select(func.count(), func.min(InboxEntry.received_at)).where(InboxEntry.state.in_(UNFINISHED))
            )
        ).one()
        parked = await session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.state == InboxState.parked.value)
        )
    lag = (now - oldest).total_seconds() if oldest else 0.0
    status = "fail" if lag > BACKLOG_FAIL_AGE else "warn" if lag > BACKLOG_WARN_AGE or parked else "ok"
    detail = f"{waiting} waiting, the oldest for {lag:.0f} s" if waiting else "journal drained"
    hint = " (see `interpeople inbox --state parked`; `inbox retry --parked`)" if parked else ""
    return Check(status, "inbox", f"{detail}; {parked} parked{hint}")


def check_disk(data: Path, database_url: str) -> Check:
    folders = {Path(data).resolve()}
    database = sqlite_file(database_url)
    if database is not None:
        folders.add(database.parent.resolve())
    usage, folder = min(((shutil.disk_usage(f), f) for f in folders if f.exists()), key=lambda u: u[0].free)
    free = usage.free / GIB
    share = usage.free / usage.total if usage.total else 0
    status = "fail" if usage.free < GIB / 10 else "warn" if usage.free < GIB or share < 0.05 else "ok"
    return Check(status, "disk", f"{free:.1f} GiB free ({share:.0%}) where {folder} is")


async def cmd_doctor(args) -> None:
    from server.commands.errors import CliError

    async with open_instance(args.data) as fed:
        outside = Outside(fed.settings.tls_ca_file, args.timeout)
        try:
            checks = [
                await check_base_url(fed, outside),
                await check_webfinger(fed, outside),
                await check_nodeinfo(fed, outside),
                await check_clock(outside, args.time_url),
                await check_database(fed),
                await check_deliveries(fed),
                await check_inbox(fed),
                check_disk(args.data, fed.settings.database_url),
            ]
        finally:
            await outside.close()
    for check in checks:
        print(check.line(), flush=True)
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        raise CliError(f"{len(failed)} check(s) failed: {', '.join(failed)}")


def add_commands(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="check the instance as peers see it: base URL, WebFinger, NodeInfo, clock, "
        "database, delivery backlog, inbox journal, disk (one line each; exit 1 on a failure)",
    )
    p.add_argument(
        "--time-url",
        metavar="URL",
        help="compare the clock with this URL's Date header "
        "(default: the base URL's, which is this machine's clock when the proxy runs here)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    p.set_defaults(run=cmd_doctor)
