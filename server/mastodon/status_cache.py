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
from typing import Any, Iterable
from urllib.parse import quote

from sqlalchemy import Connection, bindparam, case, func, literal, select, type_coerce, union_all
from sqlalchemy.types import NullType

from federation.vocabulary import PUBLIC_ALIASES, as_list, dumps, id_of
from models import Actor, Follow, FollowState, Object
from models.interaction import Favourite
from models.types import web_url

GROUP_TYPES = ("Group", "Organization")
BOT_TYPES = ("Application", "Service")
CACHE_LIMIT = 50_000  # statuses (and as many accounts) kept per process before the cache starts afresh


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
# Statements built once (SQLAlchemy then finds their compiled form in its cache without rebuilding them).
STATUSES_BY_ID = select(*STATUS_COLUMNS).where(Object.id.in_(_IDS))
ACTORS_BY_ID = select(*ACTOR_COLUMNS).where(Actor.id.in_(_IDS))
PUBLISHED_BY_ID = select(Object.id, raw(Object.published)).where(Object.id.in_(_IDS))
PARENTS_BY_URI = select(Object.uri, Object.id, Object.attributed_to_id).where(Object.uri.in_(_IDS))
MENTIONED_BY_URI = select(Actor.id, Actor.uri, Actor.username, Actor.host, Actor.local, Actor.url).where(
    Actor.uri.in_(_IDS)
)


def status_rows(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(STATUSES_BY_ID, {"ids": ids})}


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
    """A rendered fixed part: the row it was made from, the fields as a dict, and as JSON without braces."""

    __slots__ = ("row", "fields", "json", "mentions")

    def __init__(self, row: tuple, fields: dict, mentions: list[str] | None = None):
        self.row = row
        self.fields = fields
        self.json = dumps(fields)[1:-1]
        self.mentions = mentions or []


class EntityCache:
    """Fixed parts of statuses and accounts by id, each valid while its row is unchanged."""

    def __init__(self, base: str, limit: int = CACHE_LIMIT):
        self.base = base
        self.limit = limit
        self.statuses: dict[int, Fixed] = {}
        self.accounts: dict[int, Fixed] = {}
        self.latest: dict[int, tuple[int, dt.datetime | None]] = {}  # author: (newest status id, its time)
        self.hits = self.misses = 0

    def status(self, row) -> Fixed:
        key = tuple(row)
        found = self.statuses.get(row.id)
        if found is not None and found.row == key:
            self.hits += 1
            return found
        self.misses += 1
        if len(self.statuses) >= self.limit:
            self.statuses.clear()
        fields, mentions = status_fixed(self.base, row, document_of(row.document))
        found = self.statuses[row.id] = Fixed(key, fields, mentions)
        return found

    def account(self, row) -> Fixed:
        key = tuple(row)
        found = self.accounts.get(row.id)
        if found is not None and found.row == key:
            return found
        if len(self.accounts) >= self.limit:
            self.accounts.clear()
        found = self.accounts[row.id] = Fixed(key, account_fixed(self.base, row, document_of(row.document)))
        return found


_CACHES: dict[str, EntityCache] = {}


def cache_for(base: str) -> EntityCache:
    found = _CACHES.get(base)
    if found is None:
        found = _CACHES[base] = EntityCache(base)
    return found


# ---------------------------------------------------------------- counts read per page

STATUS_COUNTS = union_all(  # (kind, status id, count, how many of them are the viewer's)
    select(
        literal(0), Favourite.object_id, func.count(), func.sum(case((Favourite.actor_id == _ME, 1), else_=0))
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
REPLY_COUNTS = (
    select(Object.in_reply_to, func.count())
    .where(Object.in_reply_to.in_(_IDS), Object.deleted_at.is_(None))
    .group_by(Object.in_reply_to)
)

_ACCEPTED = Follow.state == FollowState.accepted.value
ACCOUNT_COUNTS = union_all(  # (kind, actor id, count, newest status id)
    select(literal(0), Follow.followee_id, func.count(), literal(0))
    .where(Follow.followee_id.in_(_IDS), _ACCEPTED)
    .group_by(Follow.followee_id),
    select(literal(1), Follow.follower_id, func.count(), literal(0))
    .where(Follow.follower_id.in_(_IDS), _ACCEPTED)
    .group_by(Follow.follower_id),
    # from the (author, deleted_at, id) index alone
    select(literal(2), Object.attributed_to_id, func.count(), func.max(Object.id))
    .where(Object.attributed_to_id.in_(_IDS), Object.deleted_at.is_(None))
    .group_by(Object.attributed_to_id),
)


def account_counts_of(conn: Connection, cache: EntityCache, ids: set[int]) -> dict[int, tuple]:
    """(followers, following, statuses, time of the newest status) for each actor id."""
    if not ids:
        return {}
    found: dict[int, list] = {i: [0, 0, 0, None] for i in ids}
    newest: dict[int, int] = {}
    for kind, who, n, top in conn.execute(ACCOUNT_COUNTS, {"ids": list(ids)}):
        found[who][kind] = n
        if kind == 2:
            newest[who] = top
    unknown = [top for who, top in newest.items() if cache.latest.get(who, (None,))[0] != top]
    if unknown:
        published = dict(conn.execute(PUBLISHED_BY_ID, {"ids": unknown}).all())
        for who, top in newest.items():
            if top in published:
                cache.latest[who] = (top, moment(published[top]))
    for who, top in newest.items():
        found[who][3] = cache.latest.get(who, (None, None))[1]
    return {i: tuple(v) for i, v in found.items()}


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
        for row in self.conn.execute(ACTORS_BY_ID, {"ids": list(ids)}) if ids else ():
            self.accounts[row.id] = self.cache.account(row)
        self.counts = account_counts_of(self.conn, self.cache, set(self.accounts))

    def _load_status_counts(self, content: list) -> None:
        self.favourites, self.reblogs, self.replies = {}, {}, {}
        self.favourited, self.reblogged = set(), set()
        ids = [r.id for r in content]
        if ids:
            counted = (self.favourites, self.reblogs)
            for kind, status_id, n, mine in self.conn.execute(STATUS_COUNTS, {"ids": ids, "me": self.me}):
                counted[kind][status_id] = n
                if mine and kind == 0:
                    self.favourited.add(status_id)
                elif mine and kind == 1:
                    self.reblogged.add(status_id)
            by_uri = dict(self.conn.execute(REPLY_COUNTS, {"ids": [r.uri for r in content]}).all())
            self.replies = {r.id: by_uri[r.uri] for r in content if r.uri in by_uri}
        parent_uris = list({r.in_reply_to for r in content if r.in_reply_to})
        self.parents = (
            {uri: (i, author) for uri, i, author in self.conn.execute(PARENTS_BY_URI, {"ids": parent_uris})}
            if parent_uris
            else {}
        )
        hrefs = list({h for r in content for h in self.fixed[r.id].mentions})
        self.mentioned = (
            {
                row.uri: {
                    "id": str(row.id),
                    "username": row.username,
                    "url": row.url or row.uri,
                    "acct": acct_of(row),
                }
                for row in self.conn.execute(MENTIONED_BY_URI, {"ids": hrefs})
            }
            if hrefs
            else {}
        )

    # -- dicts

    def account_dict(self, actor_id: int) -> dict:
        return {**self.accounts[actor_id].fields, **account_counts(self.counts[actor_id])}

    def _dynamic(self, row) -> dict:
        parent = self.parents.get(row.in_reply_to) if row.in_reply_to else None
        return {
            "mentions": [self.mentioned[h] for h in self.fixed[row.id].mentions if h in self.mentioned],
            "reblogs_count": self.reblogs.get(row.id, 0),
            "favourites_count": self.favourites.get(row.id, 0),
            "replies_count": self.replies.get(row.id, 0),
            "in_reply_to_id": str(parent[0]) if parent else None,
            "in_reply_to_account_id": str(parent[1]) if parent and parent[1] else None,
            "favourited": row.id in self.favourited,
            "reblogged": row.id in self.reblogged,
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

    # -- JSON, each fixed part written once

    def account_json(self, actor_id: int) -> str:
        counts = self.counts[actor_id]
        last = counts[3].date().isoformat() if counts[3] else None
        return (
            f'{{{self.accounts[actor_id].json},"followers_count":{counts[0]},'
            f'"following_count":{counts[1]},'
            f'"statuses_count":{counts[2]},"last_status_at":{json.dumps(last)}}}'
        )

    def status_json(self, row, original) -> str:
        account = self.account_json(row.attributed_to_id)
        if original is not None:
            inner = self.status_json(original, None)
            flags = (
                f'"favourited":{_js(original.id in self.favourited)},'
                f'"reblogged":{_js(original.id in self.reblogged)}'
            )
            return f'{{{self.fixed[row.id].json},"account":{account},"reblog":{inner},{flags}}}'
        dynamic = self._dynamic(row)
        return f'{{{self.fixed[row.id].json},"account":{account},{dumps(dynamic)[1:]}'


def _js(flag: bool) -> str:
    return "true" if flag else "false"


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
