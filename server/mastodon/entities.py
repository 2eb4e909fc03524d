"""Mastodon entities (Account, Status, Relationship, Notification, Application, Tag) from stored rows.

Every field Mastodon documents as non-optional is present. A page of statuses is rendered with a fixed
number of batched queries, whatever its length.
"""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from urllib.parse import quote

import nh3
from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.vocabulary import PUBLIC_ALIASES, as_list, id_of
from models import Actor, Follow, FollowState, Object
from models.interaction import Favourite, Notification
from models.oauth import OAuthApp
from models.types import web_url

GROUP_TYPES = ("Group", "Organization")
BOT_TYPES = ("Application", "Service")


def iso_ms(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def plain(html_text: str | None) -> str:
    """Text of a bit of HTML (for spoiler texts, which Mastodon keeps as plain text)."""
    if not html_text:
        return ""
    return html.unescape(nh3.clean(html_text, tags=set())).strip()


def acct_of(actor: Actor) -> str:
    return actor.username if actor.local else f"{actor.username}@{actor.host}"


def _image(document: dict | None, key: str) -> str | None:
    found = (document or {}).get(key)
    if isinstance(found, list):
        found = found[0] if found else None
    url = found.get("url") if isinstance(found, dict) else found
    url = id_of(url) if not isinstance(url, str) else url
    return web_url(url)


def avatar_url(fed: Federation, actor: Actor) -> str:
    return _image(actor.document, "icon") or f"{fed.urls.base}/avatars/{actor.id}.png"


def header_url(fed: Federation, actor: Actor) -> str:
    return _image(actor.document, "image") or f"{fed.urls.base}/headers/default.png"


def visibility(obj: Object) -> str:
    if obj.visibility:
        return obj.visibility
    document = obj.document or {}
    to = {id_of(x) for x in as_list(document.get("to"))}
    if to & PUBLIC_ALIASES or (obj.public and not document.get("to")):
        return "public"
    return "unlisted" if obj.public else "private"


def application(app: OAuthApp, secret: str | None = None) -> dict:
    uris = app.redirect_uri_list
    answer = {
        "id": str(app.id), "name": app.name, "website": app.website, "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris), "redirect_uris": uris, "vapid_key": "",
    }
    if secret is not None:
        answer.update(client_id=app.client_id, client_secret=secret, client_secret_expires_at=0)
    return answer


@dataclass
class Renderer:
    """Renders accounts and statuses for one viewer, loading what they need in batches."""

    session: AsyncSession
    fed: Federation
    viewer: Actor | None = None
    _actors: dict[int, Actor] = field(default_factory=dict)
    _counts: dict[int, tuple[int, int, int, dt.datetime | None]] = field(default_factory=dict)

    # ------------------------------------------------------------ accounts

    async def load_actors(self, ids) -> dict[int, Actor]:
        missing = {i for i in ids if i is not None and i not in self._actors}
        if missing:
            for actor in (await self.session.scalars(select(Actor).where(Actor.id.in_(missing)))).all():
                self._actors[actor.id] = actor
        return self._actors

    async def _load_counts(self, ids: set[int]) -> None:
        missing = [i for i in ids if i not in self._counts]
        if not missing:
            return
        accepted = Follow.state == FollowState.accepted.value
        both = union_all(
            select(Follow.followee_id.label("who"), literal(0).label("side"), func.count().label("n"))
            .where(Follow.followee_id.in_(missing), accepted).group_by(Follow.followee_id),
            select(Follow.follower_id.label("who"), literal(1).label("side"), func.count().label("n"))
            .where(Follow.follower_id.in_(missing), accepted).group_by(Follow.follower_id))
        followers, following = {}, {}
        for who, side, n in (await self.session.execute(both)).all():
            (following if side else followers)[who] = n
        counted = (await self.session.execute(  # both from the (author, deleted_at, id) index alone
            select(Object.attributed_to_id, func.count(), func.max(Object.id))
            .where(Object.attributed_to_id.in_(missing), Object.deleted_at.is_(None))
            .group_by(Object.attributed_to_id))).all()
        latest = dict((await self.session.execute(select(Object.id, Object.published).where(
            Object.id.in_([row[2] for row in counted])))).all()) if counted else {}
        statuses = {row[0]: (row[1], latest.get(row[2])) for row in counted}
        for i in missing:
            count, last = statuses.get(i, (0, None))
            self._counts[i] = (followers.get(i, 0), following.get(i, 0), count, last)

    async def accounts(self, actors: list[Actor]) -> list[dict]:
        for actor in actors:
            self._actors[actor.id] = actor
        await self._load_counts({a.id for a in actors})
        return [self._account(a) for a in actors]

    async def account(self, actor: Actor) -> dict:
        return (await self.accounts([actor]))[0]

    def _account(self, actor: Actor) -> dict:
        followers, following, statuses, last = self._counts.get(actor.id, (0, 0, 0, None))
        avatar, header = avatar_url(self.fed, actor), header_url(self.fed, actor)
        document = actor.document or {}
        return {
            "id": str(actor.id), "username": actor.username, "acct": acct_of(actor),
            "display_name": actor.name or "", "locked": not actor.auto_accept,
            "bot": actor.type in BOT_TYPES, "group": actor.type in GROUP_TYPES,
            "discoverable": bool(document.get("discoverable", True)), "indexable": True, "noindex": False,
            "hide_collections": False, "created_at": iso_ms(actor.created_at),
            "note": actor.summary or "", "url": actor.url or actor.uri, "uri": actor.uri,
            "avatar": avatar, "avatar_static": avatar, "header": header, "header_static": header,
            "followers_count": followers, "following_count": following, "statuses_count": statuses,
            "last_status_at": last.date().isoformat() if last else None,
            "emojis": [], "fields": [], "roles": [],
        }

    async def credential_account(self, actor: Actor) -> dict:
        answer = await self.account(actor)
        requests = await self.session.scalar(select(func.count()).select_from(Follow).where(
            Follow.followee_id == actor.id, Follow.state == FollowState.pending.value)) or 0
        answer["source"] = {"privacy": "public", "sensitive": False, "language": None, "note": plain(actor.summary),
                            "fields": [], "follow_requests_count": requests}
        answer["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return answer

    # ------------------------------------------------------------ relationships

    async def relationships(self, targets: list[int]) -> list[dict]:
        me = self.viewer.id if self.viewer else None
        rows = (await self.session.execute(select(Follow.follower_id, Follow.followee_id, Follow.state).where(
            ((Follow.follower_id == me) & Follow.followee_id.in_(targets))
            | ((Follow.followee_id == me) & Follow.follower_id.in_(targets))))).all() if me and targets else []
        mine = {r.followee_id: r.state for r in rows if r.follower_id == me}
        theirs = {r.follower_id: r.state for r in rows if r.followee_id == me}
        accepted, pending = FollowState.accepted.value, FollowState.pending.value
        return [{
            "id": str(t), "following": mine.get(t) == accepted, "showing_reblogs": mine.get(t) == accepted,
            "notifying": False, "languages": None, "followed_by": theirs.get(t) == accepted,
            "blocking": False, "blocked_by": False, "muting": False, "muting_notifications": False,
            "requested": mine.get(t) == pending, "requested_by": theirs.get(t) == pending,
            "domain_blocking": False, "endorsed": False, "note": "",
        } for t in targets]

    # ------------------------------------------------------------ statuses

    async def statuses(self, objects: list[Object]) -> list[dict]:
        """Statuses for objects (boosts included), skipping what was deleted."""
        session = self.session
        originals_ids = {o.reblog_of_id for o in objects if o.reblog_of_id}
        originals = {o.id: o for o in (await session.scalars(
            select(Object).where(Object.id.in_(originals_ids)))).all()} if originals_ids else {}
        content = [o for o in objects if o.reblog_of_id is None] + list(originals.values())
        ids = [o.id for o in content]
        uris = [o.uri for o in content]
        parent_uris = {o.in_reply_to for o in content if o.in_reply_to}
        parents = {row.uri: (row.id, row.attributed_to_id) for row in (await session.execute(
            select(Object.uri, Object.id, Object.attributed_to_id).where(Object.uri.in_(parent_uris)))).all()
        } if parent_uris else {}
        mention_uris = {id_of(t.get("href")) for o in content for t in as_list((o.document or {}).get("tag"))
                        if isinstance(t, dict) and t.get("type") == "Mention"}
        mentioned = {a.uri: a for a in (await session.scalars(
            select(Actor).where(Actor.uri.in_(mention_uris - {None})))).all()} if mention_uris - {None} else {}
        replies = dict((await session.execute(
            select(Object.in_reply_to, func.count()).where(Object.in_reply_to.in_(uris), Object.deleted_at.is_(None))
            .group_by(Object.in_reply_to))).all()) if uris else {}
        me = self.viewer.id if self.viewer is not None else -1
        favourites, favourited = await self._counted(
            select(Favourite.object_id, func.count(), func.sum(case((Favourite.actor_id == me, 1), else_=0)))
            .where(Favourite.object_id.in_(ids)).group_by(Favourite.object_id), ids)
        reblogs, reblogged = await self._counted(
            select(Object.reblog_of_id, func.count(), func.sum(case((Object.attributed_to_id == me, 1), else_=0)))
            .where(Object.reblog_of_id.in_(ids), Object.deleted_at.is_(None)).group_by(Object.reblog_of_id), ids)
        actor_ids = {o.attributed_to_id for o in objects} | {o.attributed_to_id for o in content}
        await self.load_actors(actor_ids)
        await self._load_counts({i for i in actor_ids if i is not None})
        context = _Context(parents, mentioned, replies, favourites, reblogs, favourited, reblogged)
        answer = []
        for obj in objects:
            if obj.deleted_at is not None or obj.attributed_to_id not in self._actors:
                continue
            if obj.reblog_of_id is not None:
                original = originals.get(obj.reblog_of_id)
                if original is None or original.deleted_at is not None or original.attributed_to_id not in self._actors:
                    continue
                inner = self._status(original, context)
                wrapper = self._status(obj, context, reblog=inner)
                answer.append(wrapper)
            else:
                answer.append(self._status(obj, context))
        return answer

    async def _counted(self, query, ids) -> tuple[dict[int, int], set[int]]:
        """How many (favourites, boosts) each status has, and which of them are the viewer's own."""
        if not ids:
            return {}, set()
        rows = (await self.session.execute(query)).all()
        return {r[0]: r[1] for r in rows}, {r[0] for r in rows if r[2]}

    async def status(self, obj: Object) -> dict | None:
        found = await self.statuses([obj])
        return found[0] if found else None

    def _status(self, obj: Object, c: "_Context", reblog: dict | None = None) -> dict:
        author = self._actors[obj.attributed_to_id]
        account = self._account(author)
        document = obj.document or {}
        if reblog is not None:
            return {
                "id": str(obj.id), "uri": obj.uri, "url": obj.uri, "created_at": iso_ms(obj.published),
                "account": account, "content": "", "visibility": "public", "sensitive": False, "spoiler_text": "",
                "media_attachments": [], "application": None, "mentions": [], "tags": [], "emojis": [],
                "reblogs_count": 0, "favourites_count": 0, "replies_count": 0,
                "in_reply_to_id": None, "in_reply_to_account_id": None, "reblog": reblog, "poll": None,
                "card": None, "language": None, "text": None, "edited_at": None,
                "favourited": reblog["favourited"], "reblogged": reblog["reblogged"], "muted": False,
                "bookmarked": False, "pinned": False, "filtered": [],
            }
        content = obj.content or ""
        if obj.name and obj.type != "Note":  # a forum thread (Page): its title leads
            content = f"<p><strong>{html.escape(obj.name)}</strong></p>{content}"
        parent = c.parents.get(obj.in_reply_to) if obj.in_reply_to else None
        mentions, tags = [], []
        for tag in as_list(document.get("tag")):
            if not isinstance(tag, dict):
                continue
            if tag.get("type") == "Mention" and id_of(tag.get("href")) in c.mentioned:
                who = c.mentioned[id_of(tag.get("href"))]
                mentions.append({"id": str(who.id), "username": who.username, "url": who.url or who.uri,
                                 "acct": acct_of(who)})
            elif tag.get("type") == "Hashtag" and isinstance(tag.get("name"), str):
                name = tag["name"].lstrip("#").lower()
                tags.append({"name": name, "url": f"{self.fed.urls.base}/tags/{quote(name)}"})
        language = None
        if isinstance(document.get("contentMap"), dict) and document["contentMap"]:
            language = next(iter(document["contentMap"]))
        source = document.get("source")
        url = document.get("url")
        url = web_url(id_of(url[0]) if isinstance(url, list) and url else (url if isinstance(url, str) else id_of(url)))
        return {
            "id": str(obj.id), "uri": obj.uri, "url": url or obj.uri, "created_at": iso_ms(obj.published),
            "account": account, "content": content, "visibility": visibility(obj),
            "sensitive": bool(document.get("sensitive")) or bool(obj.summary),
            "spoiler_text": plain(obj.summary) if obj.summary else plain(document.get("summary")),
            "media_attachments": [], "application": None, "mentions": mentions, "tags": tags, "emojis": [],
            "reblogs_count": c.reblogs.get(obj.id, 0), "favourites_count": c.favourites.get(obj.id, 0),
            "replies_count": c.replies.get(obj.uri, 0),
            "in_reply_to_id": str(parent[0]) if parent else None,
            "in_reply_to_account_id": str(parent[1]) if parent and parent[1] else None,
            "reblog": None, "poll": None, "card": None, "language": language,
            "text": source.get("content") if obj.local and isinstance(source, dict) else None,
            "edited_at": iso_ms(obj.updated), "favourited": obj.id in c.favourited,
            "reblogged": obj.id in c.reblogged, "muted": False, "bookmarked": False, "pinned": False,
            "filtered": [],
        }

    # ------------------------------------------------------------ notifications

    async def notifications(self, rows: list[Notification]) -> list[dict]:
        await self.load_actors({n.from_actor_id for n in rows})
        object_ids = {n.object_id for n in rows if n.object_id}
        objects = {o.id: o for o in (await self.session.scalars(
            select(Object).where(Object.id.in_(object_ids)))).all()} if object_ids else {}
        rendered = {int(s["id"]): s for s in await self.statuses(list(objects.values()))}
        accounts = {a["id"]: a for a in await self.accounts(
            [self._actors[n.from_actor_id] for n in rows if n.from_actor_id in self._actors])}
        answer = []
        for n in rows:
            account = accounts.get(str(n.from_actor_id))
            if account is None or (n.object_id and n.object_id not in rendered):
                continue
            answer.append({"id": str(n.id), "type": n.type, "created_at": iso_ms(n.created_at), "account": account,
                           "status": rendered.get(n.object_id) if n.object_id else None,
                           "group_key": f"ungrouped-{n.id}"})
        return answer


@dataclass
class _Context:
    parents: dict
    mentioned: dict
    replies: dict
    favourites: dict
    reblogs: dict
    favourited: set
    reblogged: set
