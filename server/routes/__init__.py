"""HTTP routes; each module adds its own with setup(app)."""

from server.routes import (
    actors,
    admin,
    agreements,
    discovery,
    inbox,
    mastodon,
    metrics,
    moderation,
    pages,
    posts,
    spaces,
    wellknown,
)

ROUTE_MODULES = [
    wellknown,
    inbox,
    actors,
    pages,
    admin,
    agreements,
    spaces,
    posts,
    moderation,
    discovery,
    mastodon,
    metrics,
]
