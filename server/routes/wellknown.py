"""WebFinger, host-meta and NodeInfo 2.1."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web
from sqlalchemy import func, select

from federation.actors import ActorError, parse_handle
from models import Actor, Object
from models.actor import local_actor, local_actor_by_uri
from server.keys import FED

SOFTWARE_VERSION = "0.1.0"
CORS = {"Access-Control-Allow-Origin": "*"}


async def webfinger(request: web.Request) -> web.Response:
    fed = request.app[FED]
    resource = unquote(request.query.get("resource", ""))
    if not resource:
        return web.json_response({"error": "resource is required"}, status=400, headers=CORS)
    async with fed.db.session() as session:
        if resource.startswith("http://") or resource.startswith("https://"):
            actor = await local_actor_by_uri(session, resource)
        else:
            try:
                name, host = parse_handle(resource)
            except ActorError:
                return web.json_response({"error": "unreadable resource"}, status=400, headers=CORS)
            if host != fed.settings.host.lower():
                return web.json_response({"error": "not a local account"}, status=404, headers=CORS)
            # Local names are lower-case (federation.urls.SLUG); handles are matched case-insensitively.
            actor = await local_actor(session, name.lower())
    if actor is None:
        return web.json_response({"error": "no such account"}, status=404, headers=CORS)
    jrd = {
        "subject": f"acct:{actor.username}@{fed.settings.host}",
        "aliases": [actor.uri],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": actor.uri},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": actor.url or actor.uri,
            },
        ],
    }
    return web.json_response(jrd, content_type="application/jrd+json", headers=CORS)


async def host_meta(request: web.Request) -> web.Response:
    base = request.app[FED].settings.base_url
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return web.Response(text=xml, content_type="application/xrd+xml", headers=CORS)


async def nodeinfo_links(request: web.Request) -> web.Response:
    base = request.app[FED].settings.base_url
    return web.json_response(
        {
            "links": [
                {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": f"{base}/nodeinfo/2.1"},
            ]
        },
        headers=CORS,
    )


async def nodeinfo(request: web.Request) -> web.Response:
    fed = request.app[FED]
    async with fed.db.session() as session:
        members = (
            await session.scalar(
                select(func.count()).select_from(Actor).where(Actor.local.is_(True), Actor.type == "Person")
            )
            or 0
        )
        movements = (
            await session.scalar(
                select(func.count())
                .select_from(Actor)
                .where(Actor.local.is_(True), Actor.type == "Group", Actor.movement_id.is_(None))
            )
            or 0
        )
        posts = (
            await session.scalar(select(func.count()).select_from(Object).where(Object.local.is_(True))) or 0
        )
    document = {
        "version": "2.1",
        "software": {
            "name": "interpeople",
            "version": SOFTWARE_VERSION,
            "repository": "https://codeberg.org/interpeople/interpeople",
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {
            "users": {"total": members, "activeMonth": members, "activeHalfyear": members},
            "localPosts": posts,
        },
        "metadata": {"nodeName": fed.settings.host, "movements": movements},
    }
    profile = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    return web.json_response(document, headers={**CORS, "Content-Type": profile}, content_type=None)


def setup(app: web.Application) -> None:
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_get("/.well-known/host-meta", host_meta)
    app.router.add_get("/.well-known/nodeinfo", nodeinfo_links)
    app.router.add_get("/nodeinfo/2.1", nodeinfo)
