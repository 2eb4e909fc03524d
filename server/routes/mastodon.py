"""Routes of the Mastodon client API (see server/mastodon/ and docs/mastodon-api.md)."""

from aiohttp import web

from server.mastodon import (  # noqa: F401  (each module registers its endpoints)
    accounts,
    instance,
    notifications,
    oauth,
    openapi,
    search,
    statuses,
    streaming,
    timelines,
)
from server.mastodon.api import add_routes, cors_middleware


def setup(app: web.Application) -> None:
    app.middlewares.append(cors_middleware)
    oauth.setup(app)
    instance.setup(app)
    openapi.setup(app)
    streaming.setup(app)
    add_routes(app)
