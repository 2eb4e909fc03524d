"""HTTP routes; each module adds its own with setup(app)."""

from server.routes import (
    accounts,
    actors,
    admin,
    agreements,
    decisions,
    discovery,
    inbox,
    mastodon,
    metrics,
    moderation,
    pages,
    posts,
    proposal_forms,
    spaces,
    wellknown,
)

ROUTE_MODULES = [
    wellknown,
    inbox,
    actors,
    pages,
    accounts,
    admin,
    proposal_forms,
    decisions,
    agreements,
    spaces,
    posts,
    moderation,
    discovery,
    mastodon,
    metrics,
]
