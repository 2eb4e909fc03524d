"""Helpers shared by the route modules: JSON-LD answers, pages, content negotiation."""

from __future__ import annotations

import json

from aiohttp import web

from federation.collections import PAGE_SIZE, ordered_collection, ordered_page
from federation.vocabulary import AP_CONTENT_TYPE, LD_CONTENT_TYPE, wants_activity_json
from server.keys import FED, TEMPLATES


def activity_json(document: dict, status: int = 200, request: web.Request | None = None) -> web.Response:
    """An ActivityPub document, labelled the way the client asked (activity+json or ld+json)."""
    content_type = AP_CONTENT_TYPE
    if (
        request is not None
        and "application/ld+json" in request.headers.get("accept", "")
        and "application/activity+json" not in request.headers.get("accept", "")
    ):
        content_type = LD_CONTENT_TYPE
    return web.Response(
        body=json.dumps(document, ensure_ascii=False).encode("utf-8"),
        status=status,
        headers={"Content-Type": content_type, "Vary": "Accept"},
    )


def wants_json(request: web.Request) -> bool:
    return wants_activity_json(request.headers.get("accept", ""))


def not_found(request: web.Request, what: str) -> web.HTTPNotFound:
    """A 404 saying what is missing: as {"error": ...} to ActivityPub clients, as text to browsers."""
    if wants_json(request):
        return web.HTTPNotFound(text=json.dumps({"error": what}), content_type="application/json")
    return web.HTTPNotFound(text=what)


def render(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    context.setdefault("chrome", request.get("chrome"))  # the header (server/page_context.py)
    html = request.app[TEMPLATES].get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", headers={"Vary": "Accept"})


def page_number(request: web.Request) -> int | None:
    raw = request.query.get("page")
    if raw is None:
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be a number") from None


async def paged_collection(
    request: web.Request, collection_id: str, count_query, items_query, to_item
) -> web.Response:
    """An OrderedCollection (no ?page) or one of its pages, from a count query and an items query."""
    page = page_number(request)
    async with request.app[FED].db.session() as session:
        total = await session.scalar(count_query) or 0
        if page is None:
            return activity_json(ordered_collection(collection_id, total), request=request)
        rows = (await session.execute(items_query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))).all()
    return activity_json(
        ordered_page(collection_id, page, [to_item(r) for r in rows], total), request=request
    )
