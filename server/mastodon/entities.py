"""Mastodon entities (Account, Status, Relationship, Notification, Application, Tag) from stored rows.

Every field Mastodon documents as non-optional is present. A page of statuses is rendered with a fixed
number of batched queries, whatever its length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from models import Actor, Follow, FollowState, Object
from models.interaction import Notification
from models.oauth import OAuthApp
from server.mastodon.status_cache import account_counts, account_fixed, iso_ms, plain, statuses_dicts

__all__ = ["Renderer", "application", "iso_ms"]


def application(app: OAuthApp, secret: str | None = None) -> dict:
    uris = app.redirect_uri_list
    answer = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
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
            .where(Follow.followee_id.in_(missing), accepted)
            .group_by(Follow.followee_id),
            select(Follow.follower_id.label("who"), literal(1).label("side"), func.count().label("n"))
            .where(Follow.follower_id.in_(missing), accepted)
            .group_by(Follow.follower_id),
        )
        followers, following = {}, {}
        for who, side, n in (await self.session.execute(both)).all():
            (following if side else followers)[who] = n
        counted = (
            await self.session.execute(  # both from the (author, deleted_at, id) index alone
                select(Object.attributed_to_id, func.count(), func.max(Object.id))
                .where(Object.attributed_to_id.in_(missing), Object.deleted_at.is_(None))
                .group_by(Object.attributed_to_id)
            )
        ).all()
        latest = (
            dict(
                (
                    await self.session.execute(
                        select(Object.id, Object.published).where(Object.id.in_([row[2] for row in counted]))
                    )
                ).all()
            )
            if counted
            else {}
        )
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
        return {
            **account_fixed(self.fed.urls.base, actor, actor.document),
            **account_counts(self._counts.get(actor.id, (0, 0, 0, None))),
        }

    async def credential_account(self, actor: Actor) -> dict:
        answer = await self.account(actor)
        requests = (
            await self.session.scalar(
                select(func.count())
                .select_from(Follow)
                .where(Follow.followee_id == actor.id, Follow.state == FollowState.pending.value)
            )
            or 0
        )
        answer["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": plain(actor.summary),
            "fields": [],
            "follow_requests_count": requests,
        }
        answer["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return answer

    # ------------------------------------------------------------ relationships

    async def relationships(self, targets: list[int]) -> list[dict]:
        me = self.viewer.id if self.viewer else None
        rows = (
            (
                await self.session.execute(
                    select(Follow.follower_id, Follow.followee_id, Follow.state).where(
                        ((Follow.follower_id == me) & Follow.followee_id.in_(targets))
                        | ((Follow.followee_id == me) & Follow.follower_id.in_(targets))
                    )
                )
            ).all()
            if me and targets
            else []
        )
        mine = {r.followee_id: r.state for r in rows if r.follower_id == me}
        theirs = {r.follower_id: r.state for r in rows if r.followee_id == me}
        accepted, pending = FollowState.accepted.value, FollowState.pending.value
        return [
            {
                "id": str(t),
                "following": mine.get(t) == accepted,
                "showing_reblogs": mine.get(t) == accepted,
                "notifying": False,
                "languages": None,
                "followed_by": theirs.get(t) == accepted,
                "blocking": False,
                "blocked_by": False,
                "muting": False,
                "muting_notifications": False,
                "requested": mine.get(t) == pending,
                "requested_by": theirs.get(t) == pending,
                "domain_blocking": False,
                "endorsed": False,
                "note": "",
            }
            for t in targets
        ]

    # ------------------------------------------------------------ statuses

    async def statuses(self, objects: list[Object]) -> list[dict]:
        """Statuses for objects (boosts included), skipping what was deleted: read as the timelines read them
        (status_cache), inside this session's transaction."""
        if not objects:
            return []
        await self.session.flush()
        ids = [o.id for o in objects]
        viewer = self.viewer.id if self.viewer is not None else None
        return await self.session.run_sync(
            lambda s: statuses_dicts(s.connection(), self.fed.urls.base, viewer, ids)
        )

    async def status(self, obj: Object) -> dict | None:
        found = await self.statuses([obj])
        return found[0] if found else None

    # ------------------------------------------------------------ notifications

    async def notifications(self, rows: list[Notification]) -> list[dict]:
        await self.load_actors({n.from_actor_id for n in rows})
        object_ids = {n.object_id for n in rows if n.object_id}
        objects = (
            {
                o.id: o
                for o in (await self.session.scalars(select(Object).where(Object.id.in_(object_ids)))).all()
            }
            if object_ids
            else {}
        )
        rendered = {int(s["id"]): s for s in await self.statuses(list(objects.values()))}
        accounts = {
            a["id"]: a
            for a in await self.accounts(
                [self._actors[n.from_actor_id] for n in rows if n.from_actor_id in self._actors]
            )
        }
        answer = []
        for n in rows:
            account = accounts.get(str(n.from_actor_id))
            if account is None or (n.object_id and n.object_id not in rendered):
                continue
            answer.append(
                {
                    "id": str(n.id),
                    "type": n.type,
                    "created_at": iso_ms(n.created_at),
                    "account": account,
                    "status": rendered.get(n.object_id) if n.object_id else None,
                    "group_key": f"ungrouped-{n.id}",
                }
            )
        return answer
