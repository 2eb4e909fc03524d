"""Server-rendered pages that are not tied to one actor: the instance's front page."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from federation.content import markdown_to_html
from federation.urls import INSTANCE_ACTOR
from models import Actor, Follow, FollowState
from models.space import Space
from server.keys import FED
from server.page_context import info
from server.routes.common import render


async def home(request: web.Request) -> web.Response:
    fed = request.app[FED]
    async with fed.db.session() as session:
        movements = (
            await session.scalars(
                select(Actor)
                .where(
                    Actor.local.is_(True),
                    Actor.type == "Group",
                    Actor.username != INSTANCE_ACTOR,
                    Actor.id.not_in(select(Space.actor_id)),
                )
                .order_by(Actor.username)
            )
        ).all()
        counts = dict(
            (
                await session.execute(
                    select(Follow.followee_id, func.count())
                    .where(Follow.state == FollowState.accepted.value)
                    .group_by(Follow.followee_id)
                )
            ).all()
        )
        members = dict(
            (
                await session.execute(
                    select(Actor.movement_id, func.count())
                    .where(Actor.movement_id.is_not(None))
                    .group_by(Actor.movement_id)
                )
            ).all()
        )
    site = await info(request.app)
    return render(
        request,
        "home.html",
        host=fed.settings.host,
        movements=movements,
        followers=counts,
        members=members,
        site=site,
        description=markdown_to_html(site.description) if site.description else "",
        rules=markdown_to_html(site.rules) if site.rules else "",
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
