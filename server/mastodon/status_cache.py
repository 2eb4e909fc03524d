"""Pages of Mastodon statuses from lean rows: each status's and account's fixed part rendered once per stored
row and kept per process, counts and per-viewer flags read fresh for each page, JSON written once per part.

A cached part is used only while the row it was rendered from is unchanged (the raw row read for the page is
compared with the one it was made from), so an edit, a delete or a new profile made by any process (the
server, the command line) shows at once. Counts (favourites, boosts, replies, followers, statuses) and the
viewer's own `favourited`/`reblogged` are never cached: they come from grouped index reads per page.
All functions here are plain blocking Core calls on a Connection, run through Database.run_read (one hop to
a reader thread on SQLite) or a session's run_sync.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from typing import Any, Iterable
from urllib.parse import quote

from sqlalchemy import Connection, bindparam, case, func, literal, select, type_coerce, union_all
from sqlalchemy.types import NullType

from federation.vocabulary import PUBLIC_ALIASES, as_list, dumps, id_of
from models import Actor, Follow, FollowState, Object
from models.interaction import Favourite
from models.lean import Lean
from models.types import web_url
from server.lru import Lru

GROUP_TYPES = ("Group", "Organization")
BOT_TYPES = ("Application", "Service")
CACHE_LIMIT = 10_000  # statuses (and as many accounts) kept per process, the least recently used dropped
# How long a counted statuses_count is trusted while its author's (newest live status, deleted statuses) key is
# unchanged: only a hard delete of an older row (an undone boost) escapes that key.
COUNT_TTL = 30.0
clock = time.monotonic


def raw(column):
    """A column read as the driver gives it (no JSON decoding, no date parsing): cheap to read and compare."""
    return type_coerce(column, NullType()).label(column.key)


STATUS_COLUMNS = tuple(
    raw(c)
    for c in (
        Object.id,
        Object.uri,
        Object.type,
        Object.local,
        Object.attributed_to_id,
        Object.name,
        Object.content,
        Object.summary,
        Object.in_reply_to,
        Object.public,
        Object.published,
        Object.updated,
        Object.deleted_at,
        Object.document,
        Object.reblog_of_id,
        Object.visibility,
    )
)
ACTOR_COLUMNS = tuple(
    raw(c)
    for c in (
        Actor.id,
        Actor.uri,
        Actor.type,
        Actor.local,
        Actor.username,
        Actor.host,
        Actor.name,
        Actor.summary,
        Actor.url,
        Actor.auto_accept,
        Actor.document,
        Actor.created_at,
    )
)


_IDS = bindparam("ids", expanding=True)
_ME = bindparam("me")
STATUS_FIELDS = len(STATUS_COLUMNS)
# Statements built once, run lean (models/lean.py).
STATUSES_BY_ID = Lean(select(*STATUS_COLUMNS).where(Object.id.in_(_IDS)))
_ACCEPTED = Follow.state == FollowState.accepted.value
_OF_ACTOR = Object.attributed_to_id == Actor.id
# An author's newest live status: a backward read of the (author, deleted_at, id) index, in its order (for
# max(id), PostgreSQL's planner walks the primary key back instead).
_NEWEST = (
    select(Object.id)
    .where(_OF_ACTOR, Object.deleted_at.is_(None))
    .order_by(Object.attributed_to_id.desc(), Object.deleted_at.desc(), Object.id.desc())
    .limit(1)
    .scalar_subquery()
)
# Each actor with its follow counts and the key of its statuses_count (all from indexes, one seek each).
ACTORS_BY_ID = Lean(
    select(
        *ACTOR_COLUMNS,
        select(func.count()).where(Follow.followee_id == Actor.id, _ACCEPTED).scalar_subquery().label("n_in"),
        select(func.count())
        .where(Follow.follower_id == Actor.id, _ACCEPTED)
        .scalar_subquery()
        .label("n_out"),
        _NEWEST.label("top"),
        select(func.count()).where(_OF_ACTOR, Object.deleted_at.is_not(None)).scalar_subquery().label("gone"),
    ).where(Actor.id.in_(_IDS))
)
ACTOR_FIELDS = len(ACTOR_COLUMNS)
STATUS_COUNTS = Lean(  # (kind, status id, count, how many of them are the viewer's)
    union_all(
        select(
            literal(0),
            Favourite.object_id,
            func.count(),
            func.sum(case((Favourite.actor_id == _ME, 1), else_=0)),
        )
        .where(Favourite.object_id.in_(_IDS))
        .group_by(Favourite.object_id),
        select(
            literal(1),
            Object.reblog_of_id,
            func.count(),
            func.sum(case((Object.attributed_to_id == _ME, 1), else_=0)),
        )
        .where(Object.reblog_of_id.in_(_IDS), Object.deleted_at.is_(None))
        .group_by(Object.reblog_of_id),
    )
)
REPLY_COUNTS = Lean(
    select(Object.in_reply_to, func.count())
    .where(Object.in_reply_to.in_(_IDS), Object.deleted_at.is_(None))
    .group_by(Object.in_reply_to)
)
PARENTS_BY_URI = Lean(select(Object.uri, Object.id, Object.attributed_to_id).where(Object.uri.in_(_IDS)))
PUBLISHED_BY_ID = Lean(select(Object.id, raw(Object.published)).where(Object.id.in_(_IDS)))
MENTIONED_BY_URI = Lean(
    select(Actor.id, Actor.uri, Actor.username, Actor.host, Actor.local, Actor.url).where(Actor.uri.in_(_IDS))
)


def status_rows(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {r.id: r for r in STATUSES_BY_ID.rows(conn, {"ids": ids})}


# ---------------------------------------------------------------- pure steps


def moment(value) -> dt.datetime | None:
    """A stored time (a datetime, or SQLite's text) as an aware UTC datetime."""
    if value is None or isinstance(value, dt.datetime):
        found = value
    else:
        found = dt.datetime.fromisoformat(value)
    if found is not None and found.tzinfo is None:
        found = found.replace(tzinfo=dt.timezone.utc)
    return found


def iso_ms(value) -> str | None:
    found = moment(value)
    if found is None:
        return None
    found = found.astimezone(dt.timezone.utc)
    return found.strftime("%Y-%m-%dT%H:%M:%S.") + f"{found.microsecond // 1000:03d}Z"


def document_of(value) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def acct_of(actor) -> str:
    return actor.username if actor.local else f"{actor.username}@{actor.host}"


def _image(document: dict | None, key: str) -> str | None:
    found = (document or {}).get(key)
    if isinstance(found, list):
        found = found[0] if found else None
    url = found.get("url") if isinstance(found, dict) else found
    url = id_of(url) if not isinstance(url, str) else url
    return web_url(url)


def account_fixed(base: str, actor, document: dict | None) -> dict:
    """An Account's fields that change only when the actor's row does (counts come on top)."""
    document = document or {}
    avatar = _image(document, "icon") or f"{base}/avatars/{actor.id}.png"
    header = _image(document, "image") or f"{base}/headers/default.png"
    return {
        "id": str(actor.id),
        "username": actor.username,
        "acct": acct_of(actor),
        "display_name": actor.name or "",
        "locked": not actor.auto_accept,
        "bot": actor.type in BOT_TYPES,
        "group": actor.type in GROUP_TYPES,
        "discoverable": bool(document.get("discoverable", True)),
        "indexable": True,
        "noindex": False,
        "hide_collections": False,
        "created_at": iso_ms(actor.created_at),
        "note": actor.summary or "",
        "url": actor.url or actor.uri,
        "uri": actor.uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "emojis": [],
        "fields": [],
        "roles": [],
    }


def account_counts(counts: tuple) -> dict:
    followers, following, statuses, last = counts
    return {
        "followers_count": followers,
        "following_count": following,
        "statuses_count": statuses,
        "last_status_at": last.date().isoformat() if last else None,
    }


def visibility(row, document: dict) -> str:
    if row.visibility:
        return row.visibility
    to = {id_of(x) for x in as_list(document.get("to"))}
    if to & PUBLIC_ALIASES or (row.public and not document.get("to")):
        return "public"
    return "unlisted" if row.public else "private"


def plain(html_text: str | None) -> str:
    """Text of a bit of HTML (for spoiler texts, which Mastodon keeps as plain text)."""
    if not html_text:
        return ""
    import nh3

    return html.unescape(nh3.clean(html_text, tags=set())).strip()


BOOST_FIXED = {
    "content": "",
    "visibility": "public",
    "sensitive": False,
    "spoiler_text": "",
    "media_attachments": [],
    "application": None,
    "mentions": [],
    "tags": [],
    "emojis": [],
    "reblogs_count": 0,
    "favourites_count": 0,
    "replies_count": 0,
    "in_reply_to_id": None,
    "in_reply_to_account_id": None,
    "poll": None,
    "card": None,
    "language": None,
    "text": None,
    "edited_at": None,
    "muted": False,
    "bookmarked": False,
    "pinned": False,
    "filtered": [],
}


def status_fixed(base: str, row, document: dict) -> tuple[dict, list[str]]:
    """A Status's fields that change only when its row does, and the actor ids (URIs) it mentions."""
    if row.reblog_of_id is not None:
        return {
            "id": str(row.id),
            "uri": row.uri,
            "url": row.uri,
            "created_at": iso_ms(row.published),
            **BOOST_FIXED,
        }, []
    content = row.content or ""
    if row.name and row.type != "Note":  # a forum thread (Page): its title leads
        content = f"<p><strong>{html.escape(row.name)}</strong></p>{content}"
    mentions, tags = [], []
    for tag in as_list(document.get("tag")):
        if not isinstance(tag, dict):
            continue
        if tag.get("type") == "Mention" and id_of(tag.get("href")):
            mentions.append(id_of(tag.get("href")))
        elif tag.get("type") == "Hashtag" and isinstance(tag.get("name"), str):
            name = tag["name"].lstrip("#").lower()
            tags.append({"name": name, "url": f"{base}/tags/{quote(name)}"})
    language = None
    if isinstance(document.get("contentMap"), dict) and document["contentMap"]:
        language = next(iter(document["contentMap"]))
    source = document.get("source")
    url = document.get("url")
    url = web_url(
        id_of(url[0]) if isinstance(url, list) and url else (url if isinstance(url, str) else id_of(url))
    )
    return {
        "id": str(row.id),
        "uri": row.uri,
        "url": url or row.uri,
        "created_at": iso_ms(row.published),
        "content": content,
        "visibility": visibility(row, document),
        "sensitive": bool(document.get("sensitive")) or bool(row.summary),
        "spoiler_text": plain(row.summary) if row.summary else plain(document.get("summary")),
        "media_attachments": [],
        "application": None,
        "tags": tags,
        "emojis": [],
        "reblog": None,
        "poll": None,
        "card": None,
        "language": language,
        "text": source.get("content") if row.local and isinstance(source, dict) else None,
        "edited_at": iso_ms(row.updated),
        "muted": False,
        "bookmarked": False,
        "pinned": False,
        "filtered": [],
    }, mentions


class Fixed:
    """A rendered fixed part: the row it was made from and its fields as JSON without braces (a dict again
    when asked for); an account's also keeps its last JSON with counts, and its statuses count."""

    __slots__ = ("row", "json", "mentions", "last", "stats")

    def __init__(self, row: tuple, fields: dict, mentions: list[str] | None = None):
        self.row = row
        self.json = dumps(fields)[1:-1]
        self.mentions = mentions or []
        self.last: tuple = (None, None)  # an account's: (counts, JSON with them)
        self.stats: tuple | None = None  # an account's: (key, statuses count, until, newest status time)

    @property
    def fields(self) -> dict:
        return json.loads(f"{{{self.json}}}")


class EntityCache:
    """Fixed parts of statuses and accounts by id, each valid while its row is unchanged (an account's part
    also keeps its statuses count, valid while that count's key is)."""

    def __init__(self, base: str, limit: int = CACHE_LIMIT):
        self.base = base
        self.limit = limit
        self.statuses: Lru = Lru(limit)
        self.accounts: Lru = Lru(limit)
        self.hits = self.misses = 0

    def status(self, row) -> Fixed:
        key = tuple(row)[:STATUS_FIELDS]
        found = self.statuses.used(row.id)
        if found is not None and found.row == key:
            self.hits += 1
            return found
        self.misses += 1
        fields, mentions = status_fixed(self.base, row, document_of(row.document))
        return self.statuses.keep(row.id, Fixed(key, fields, mentions))

    def account(self, row) -> Fixed:
        key = tuple(row)[:ACTOR_FIELDS]
        found = self.accounts.used(row.id)
        if found is not None and found.row == key:
            return found
        fields = account_fixed(self.base, row, document_of(row.document))
        return self.accounts.keep(row.id, Fixed(key, fields))


_CACHES: dict[str, EntityCache] = {}


def cache_for(base: str) -> EntityCache:
    found = _CACHES.get(base)
    if found is None:
        found = _CACHES[base] = EntityCache(base)
    return found


# ---------------------------------------------------------------- counts read per page

# from the (author, deleted_at, id) index alone
STATUSES_COUNTS = Lean(
    select(Object.attributed_to_id, func.count())
    .where(Object.attributed_to_id.in_(_IDS), Object.deleted_at.is_(None))
    .group_by(Object.attributed_to_id)
)


def account_counts_of(conn: Connection, accounts: dict[int, Fixed], rows: list) -> dict[int, tuple]:
    """(followers, following, statuses, time of the newest status) for each actor row read by ACTORS_BY_ID.

    An author's statuses are counted again only when its key (newest live status, number of deleted ones)
    moved, or after COUNT_TTL; the count is kept on the author's cached Fixed part."""
    now = clock()
    stale = [
        r
        for r in rows
        if (stats := accounts[r.id].stats) is None or stats[0] != (r.top, r.gone) or stats[2] <= now
    ]
    if stale:
        tops = {r.id: r.top for r in stale if r.top is not None}
        counted = dict(STATUSES_COUNTS.rows(conn, {"ids": list(tops)})) if tops else {}
        published = dict(PUBLISHED_BY_ID.rows(conn, {"ids": list(tops.values())})) if tops else {}
        for r in stale:
            last = moment(published.get(r.top)) if r.top is not None else None
            accounts[r.id].stats = ((r.top, r.gone), counted.get(r.id, 0), now + COUNT_TTL, last)
    return {r.id: (r.n_in, r.n_out, *accounts[r.id].stats[1::2]) for r in rows}


# ---------------------------------------------------------------- a page


class Page:
    """Statuses rendered for one viewer from their rows: fixed parts from the cache, the rest read fresh."""

    def __init__(self, conn: Connection, base: str, viewer_id: int | None):
        self.conn = conn
        self.cache = cache_for(base)
        self.me = viewer_id if viewer_id is not None else -1
        self.accounts: dict[int, Fixed] = {}
        self.counts: dict[int, tuple] = {}

    def load(self, rows: list) -> list[tuple]:
        """The statuses to show, in order: (row, original row or None), skipping deleted ones; loads
        everything they need."""
        originals = status_rows(self.conn, {r.reblog_of_id for r in rows if r.reblog_of_id is not None})
        shown = []
        for row in rows:
            if row.deleted_at is not None:
                continue
            original = originals.get(row.reblog_of_id) if row.reblog_of_id is not None else None
            if row.reblog_of_id is not None and (original is None or original.deleted_at is not None):
                continue
            shown.append((row, original))
        content = [original or row for row, original in shown]
        self._load_accounts({r.attributed_to_id for r, _ in shown} | {r.attributed_to_id for r in content})
        shown = [
            (r, o)
            for r, o in shown
            if r.attributed_to_id in self.accounts and (o is None or o.attributed_to_id in self.accounts)
        ]
        content = [original or row for row, original in shown]
        self.fixed = {r.id: self.cache.status(r) for pair in shown for r in pair if r is not None}
        self._load_status_counts(content)
        return shown

    def _load_accounts(self, ids: set) -> None:
        ids.discard(None)
        rows = ACTORS_BY_ID.rows(self.conn, {"ids": list(ids)}) if ids else []
        for row in rows:
            self.accounts[row.id] = self.cache.account(row)
        self.counts = account_counts_of(self.conn, self.accounts, rows)

    def _load_status_counts(self, content: list) -> None:
        """Per status: (favourites, boosts, replies, favourited, boosted, parent id, parent's author)."""
        found: dict[int, list] = {r.id: [0, 0, 0, False, False, None, None] for r in content}
        self.status_counts = found
        if not content:
            return
        for kind, status_id, n, mine in STATUS_COUNTS.rows(self.conn, {"ids": list(found), "me": self.me}):
            found[status_id][kind] = n
            found[status_id][3 + kind] = bool(mine)
        by_uri = dict(REPLY_COUNTS.rows(self.conn, {"ids": [r.uri for r in content]}))
        parent_uris = list({r.in_reply_to for r in content if r.in_reply_to})
        parents = (
            {uri: (i, author) for uri, i, author in PARENTS_BY_URI.rows(self.conn, {"ids": parent_uris})}
            if parent_uris
            else {}
        )
        for r in {r.id: r for r in content}.values():
            counts = found[r.id]
            counts[2] = by_uri.get(r.uri, 0)
            counts[5:] = parents.get(r.in_reply_to, (None, None)) if r.in_reply_to else (None, None)
            found[r.id] = tuple(counts)
        hrefs = list({h for r in content for h in self.fixed[r.id].mentions})
        self.mentioned = (
            {
                row.uri: {
                    "id": str(row.id),
                    "username": row.username,
                    "url": row.url or row.uri,
                    "acct": acct_of(row),
                }
                for row in MENTIONED_BY_URI.rows(self.conn, {"ids": hrefs})
            }
            if hrefs
            else {}
        )

    # -- dicts

    def account_dict(self, actor_id: int) -> dict:
        return {**self.accounts[actor_id].fields, **account_counts(self.counts[actor_id])}

    def _dynamic(self, row) -> dict:
        favourites, reblogs, replies, favourited, reblogged, parent, author = self.status_counts[row.id]
        return {
            "mentions": [self.mentioned[h] for h in self.fixed[row.id].mentions if h in self.mentioned],
            "reblogs_count": reblogs,
            "favourites_count": favourites,
            "replies_count": replies,
            "in_reply_to_id": str(parent) if parent is not None else None,
            "in_reply_to_account_id": str(author) if author is not None else None,
            "favourited": favourited,
            "reblogged": reblogged,
        }

    def status_dict(self, row, original) -> dict:
        account = self.account_dict(row.attributed_to_id)
        if original is None:
            return {**self.fixed[row.id].fields, "account": account, **self._dynamic(row)}
        inner = self.status_dict(original, None)
        return {
            **self.fixed[row.id].fields,
            "account": account,
            "reblog": inner,
            "favourited": inner["favourited"],
            "reblogged": inner["reblogged"],
        }

    # -- JSON: each fixed part written once, joined with what was read for this page

    def account_json(self, actor_id: int) -> str:
        fixed, counts = self.accounts[actor_id], self.counts[actor_id]
        last = fixed.last  # read once: a page in another reader thread may replace it meanwhile
        if last[0] != counts:
            seen = counts[3].date().isoformat() if counts[3] else None
            last = fixed.last = (
                counts,
                f'{{{fixed.json},"followers_count":{counts[0]},"following_count":{counts[1]},'
                f'"statuses_count":{counts[2]},"last_status_at":{json.dumps(seen)}}}',
            )
        return last[1]

    def _dynamic_json(self, row, fixed: Fixed) -> str:
        favourites, reblogs, replies, favourited, reblogged, parent, author = self.status_counts[row.id]
        mentions = (
            dumps([self.mentioned[h] for h in fixed.mentions if h in self.mentioned])
            if fixed.mentions
            else "[]"
        )
        return (
            f'"mentions":{mentions},"reblogs_count":{reblogs},"favourites_count":{favourites},'
            f'"replies_count":{replies},"in_reply_to_id":{_jid(parent)},'
            f'"in_reply_to_account_id":{_jid(author)},"favourited":{_js(favourited)},'
            f'"reblogged":{_js(reblogged)}'
        )

    def status_json(self, row, original) -> str:
        fixed = self.fixed[row.id]
        account = self.account_json(row.attributed_to_id)
        if original is None:
            return f'{{{fixed.json},"account":{account},{self._dynamic_json(row, fixed)}}}'
        counts = self.status_counts[original.id]
        inner = self.status_json(original, None)
        return (
            f'{{{fixed.json},"account":{account},"reblog":{inner},'
            f'"favourited":{_js(counts[3])},"reblogged":{_js(counts[4])}}}'
        )


def _js(flag: bool) -> str:
    return "true" if flag else "false"


def _jid(found: int | None) -> str:
    """An id as Mastodon writes it: a JSON string, or null."""
    return f'"{found}"' if found is not None else "null"


def statuses_json(conn: Connection, base: str, viewer_id: int | None, rows: list) -> tuple[str, list[int]]:
    """A JSON list of the statuses for rows (in their order), and the ids of those shown."""
    page = Page(conn, base, viewer_id)
    shown = page.load(rows)
    return "[" + ",".join(page.status_json(r, o) for r, o in shown) + "]", [r.id for r, _ in shown]


def statuses_dicts(conn: Connection, base: str, viewer_id: int | None, ids: list[int]) -> list[dict]:
    """The statuses for object ids (in their order) as dicts, deleted ones left out."""
    rows = status_rows(conn, ids)
    page = Page(conn, base, viewer_id)
    shown = page.load([rows[i] for i in ids if i in rows])
    return [page.status_dict(r, o) for r, o in shown]
