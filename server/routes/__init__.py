"""HTTP routes; each module adds its own with setup(app)."""
from server.routes import actors, inbox, pages, wellknown

ROUTE_MODULES = [wellknown, inbox, actors, pages]
