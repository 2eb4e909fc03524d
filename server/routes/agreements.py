"""Routes of the agreements feature (placeholder until it lands)."""
from aiohttp import web


def setup(app: web.Application) -> None:
    pass
