"""HTTP routes; each module adds its own with setup(app)."""

from server.routes import (
    accounts,
    actors,
    admin,
    agreements,
    inbox,
    mastodon,
    metrics,
    pages,
    spaces,
    wellknown,
)

ROUTE_MODULES = [wellknown, inbox, actors, pages, accounts, admin, agreements, spaces, mastodon, metrics]
