"""HTTP routes; each module adds its own with setup(app)."""
from server.routes import actors, agreements, inbox, mastodon, metrics, pages, spaces, wellknown

ROUTE_MODULES = [wellknown, inbox, actors, pages, agreements, spaces, mastodon, metrics]
