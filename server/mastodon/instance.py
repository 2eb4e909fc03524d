"""The instance (v1 and v2), the answers apps ask for on start-up (preferences, markers, and empty but valid
custom emojis, filters, lists, announcements, trends and the like), and default avatar and header images."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

from aiohttp import web
from sqlalchemy import distinct, func, select

from federation.accounts.instance import instance_info
from federation.urls import INSTANCE_ACTOR
from models import Actor, Object, utcnow
from models.oauth import Marker
from server.keys import FED
from server.mastodon.api import ApiError, Caller, Params, endpoint, not_found, object_id
from server.mastodon.entities import iso_ms
from server.mastodon.statuses import MAX_CHARACTERS
from server.routes.wellknown import SOFTWARE_VERSION

MASTODON_VERSION = f"4.3.0 (compatible; Interpeople {SOFTWARE_VERSION})"
API_VERSIONS = {"mastodon": 2}
SOURCE_URL = "https://codeberg.org/interpeople/interpeople"


async def _stats(session) -> dict:
    users = (
        await session.scalar(
            select(func.count()).select_from(Actor).where(Actor.local.is_(True), Actor.type == "Person")
        )
        or 0
    )
    statuses = (
        await session.scalar(
            select(func.count())
            .select_from(Object)
            .where(Object.local.is_(True), Object.reblog_of_id.is_(None), Object.deleted_at.is_(None))
        )
        or 0
    )
    domains = (
        await session.scalar(select(func.count(distinct(Actor.host))).where(Actor.local.is_(False))) or 0
    )
    return {"user_count": users, "status_count": statuses, "domain_count": domains}


def _streaming(base: str) -> str:
    return (
        "wss://" + base[len("https://") :]
        if base.startswith("https://")
        else "ws://" + base[len("http://") :]
    )


def _configuration() -> dict:
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {
            "max_characters": MAX_CHARACTERS,
            "max_media_attachments": 0,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": [],
            "image_size_limit": 0,
            "image_matrix_limit": 0,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
            "description_limit": 0,
        },
        "polls": {"max_options": 0, "max_characters_per_option": 0, "min_expiration": 0, "max_expiration": 0},
    }


def _description(fed) -> str:
    return fed.settings.extra.get("description") or (
        "An Interpeople instance: movements and their members, forum spaces and co-signed agreements."
    )


@endpoint("GET", "/api/v1/instance", summary="The instance (v1)")
async def instance_v1(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    base, host = fed.settings.base_url, fed.settings.host
    async with fed.db.session() as session:
        stats = await _stats(session)
        site = await instance_info(session, fed.settings)
    return {
        "uri": host,
        "title": site.title,
        "short_description": site.description or _description(fed),
        "description": site.description or _description(fed),
        "email": fed.settings.extra.get("contact_email") or "",
        "version": MASTODON_VERSION,
        "urls": {"streaming_api": _streaming(base)},
        "stats": stats,
        "thumbnail": f"{base}/headers/default.png",
        "languages": ["en"],
        "registrations": site.open_signup,
        "approval_required": True,
        "invites_enabled": True,
        "configuration": _configuration(),
        "contact_account": None,
        "rules": _rules(site),
    }


@endpoint("GET", "/api/v2/instance", summary="The instance (v2), with api_versions")
async def instance_v2(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    base, host = fed.settings.base_url, fed.settings.host
    async with fed.db.session() as session:
        stats = await _stats(session)
        site = await instance_info(session, fed.settings)
    configuration = _configuration()
    configuration.update(
        urls={"streaming": _streaming(base), "status": None, "about": f"{base}/"},
        vapid={"public_key": ""},
        translation={"enabled": False},
    )
    return {
        "domain": host,
        "title": site.title,
        "version": MASTODON_VERSION,
        "source_url": SOURCE_URL,
        "description": site.description or _description(fed),
        "usage": {"users": {"active_month": stats["user_count"]}},
        "thumbnail": {"url": f"{base}/headers/default.png", "blurhash": None, "versions": {}},
        "icon": [],
        "languages": ["en"],
        "configuration": configuration,
        "registrations": {
            "enabled": site.open_signup,
            "approval_required": True,
            "message": None,
            "url": f"{base}/join" if site.open_signup else None,
        },
        "api_versions": API_VERSIONS,
        "contact": {"email": fed.settings.extra.get("contact_email") or "", "account": None},
        "rules": _rules(site),
    }


@endpoint("GET", "/api/v1/instance/peers", summary="Hosts this instance knows")
async def peers(request: web.Request, params: Params, caller: Caller):
    async with request.app[FED].db.session() as session:
        return sorted(
            (await session.scalars(select(distinct(Actor.host)).where(Actor.local.is_(False)))).all()
        )


@endpoint("GET", "/api/v1/instance/activity", summary="Weekly activity (not kept: empty)")
async def activity(request: web.Request, params: Params, caller: Caller):
    return []


def _rules(site) -> list[dict]:
    """The rules the admins wrote (/admin/settings), one a non-empty line."""
    lines = [line.strip().lstrip("-*#0123456789. ").strip() for line in site.rules.splitlines()]
    return [{"id": str(n), "text": text, "hint": ""} for n, text in enumerate((t for t in lines if t), 1)]


@endpoint("GET", "/api/v1/instance/rules", summary="Server rules (set at /admin/settings)")
async def rules(request: web.Request, params: Params, caller: Caller):
    fed = request.app[FED]
    async with fed.db.session() as session:
        return _rules(await instance_info(session, fed.settings))


@endpoint(
    "GET", "/api/v1/preferences", scope="read:accounts", user=True, summary="Posting and reading preferences"
)
async def preferences(request: web.Request, params: Params, caller: Caller):
    return {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }


@endpoint(
    "GET", "/api/v1/markers", scope="read:statuses", user=True, summary="Read positions (timeline[]=home...)"
)
async def get_markers(request: web.Request, params: Params, caller: Caller):
    wanted = [t for t in params.list("timeline") if t in ("home", "notifications")]
    async with request.app[FED].db.session() as session:
        rows = (await session.scalars(select(Marker).where(Marker.account_id == caller.account_id))).all()
    return {m.timeline: _marker(m) for m in rows if not wanted or m.timeline in wanted}


def _marker(m: Marker) -> dict:
    return {"last_read_id": m.last_read_id, "version": m.version, "updated_at": iso_ms(m.updated_at)}


@endpoint("POST", "/api/v1/markers", scope="write:statuses", user=True, summary="Save read positions")
async def save_markers(request: web.Request, params: Params, caller: Caller):
    answer = {}
    async with request.app[FED].db.session() as session:
        for timeline in ("home", "notifications"):
            value = params.get(f"{timeline}[last_read_id]")
            nested = params.get(timeline)
            if isinstance(nested, dict):
                value = nested.get("last_read_id")
            if value is None:
                continue
            marker = await session.scalar(
                select(Marker).where(Marker.account_id == caller.account_id, Marker.timeline == timeline)
            )
            if marker is None:
                marker = Marker(account_id=caller.account_id, timeline=timeline, version=0)
                session.add(marker)
            marker.last_read_id = str(value)[:32]
            marker.version = (marker.version or 0) + 1
            marker.updated_at = utcnow()
            await session.flush()
            answer[timeline] = _marker(marker)
    return answer


def _empty(path: str, summary: str, scope: str | None = None, user: bool = False, value=None):
    async def handler(request: web.Request, params: Params, caller: Caller):
        return [] if value is None else value

    handler.__name__ = "empty_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    endpoint("GET", path, scope=scope, user=user, summary=summary, tag="instance")(handler)


for _path, _summary, _scope in (
    ("/api/v1/custom_emojis", "Custom emojis (none)", None),
    ("/api/v1/announcements", "Announcements (none)", "read"),
    ("/api/v1/filters", "Filters v1 (none)", "read:filters"),
    ("/api/v2/filters", "Filters v2 (none)", "read:filters"),
    ("/api/v1/lists", "Lists (none)", "read:lists"),
    ("/api/v1/trends", "Trending tags (none)", None),
    ("/api/v1/trends/tags", "Trending tags (none)", None),
    ("/api/v1/trends/statuses", "Trending statuses (none)", None),
    ("/api/v1/trends/links", "Trending links (none)", None),
    ("/api/v1/bookmarks", "Bookmarks (not kept: none)", "read:bookmarks"),
    ("/api/v1/conversations", "Direct conversations (none listed)", "read:statuses"),
    ("/api/v1/blocks", "Blocked accounts (none)", "read:blocks"),
    ("/api/v1/mutes", "Muted accounts (none)", "read:mutes"),
    ("/api/v1/domain_blocks", "Blocked domains (none)", "read:blocks"),
    ("/api/v1/endorsements", "Featured accounts (none)", "read:accounts"),
    ("/api/v1/featured_tags", "Featured hashtags (none)", "read:accounts"),
    ("/api/v1/followed_tags", "Followed hashtags (none)", "read:follows"),
    ("/api/v1/scheduled_statuses", "Scheduled statuses (none)", "read:statuses"),
    ("/api/v1/suggestions", "Follow suggestions (none)", "read"),
    ("/api/v2/suggestions", "Follow suggestions (none)", "read"),
    ("/api/v1/accounts/{id}/featured_tags", "Featured hashtags of an account (none)", None),
    ("/api/v1/accounts/{id}/lists", "Lists holding an account (none)", "read:lists"),
    ("/api/v1/directory", "Profile directory (not offered: empty)", None),
):
    _empty(_path, _summary, _scope, user=_scope is not None and _scope != "read")


@endpoint("GET", "/api/v1/push/subscription", scope="push", user=True, summary="Web push is not offered: 404")
async def push_subscription(request: web.Request, params: Params, caller: Caller):
    raise ApiError(404, "Record not found")


@endpoint("GET", "/api/v1/lists/{id}", scope="read:lists", user=True, summary="No lists are kept: 404")
async def one_list(request: web.Request, params: Params, caller: Caller):
    raise not_found()


# ---------------------------------------------------------------- default images


@lru_cache(maxsize=512)  # one image per colour: avatars are drawn once, not per request
def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def hue_rgb(hue: int, saturation: float = 0.45, lightness: float = 0.45) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hls_to_rgb(hue / 360, lightness, saturation)
    return int(r * 255), int(g * 255), int(b * 255)


async def avatar(request: web.Request) -> web.Response:
    """An actor's default avatar: a square in the colour its pages use for it."""
    from server.app import hue

    fed = request.app[FED]
    async with fed.db.session() as session:
        actor = await session.get(Actor, object_id(request))
    if actor is None or actor.username == INSTANCE_ACTOR:
        raise web.HTTPNotFound()
    return web.Response(
        body=png(96, 96, hue_rgb(hue(actor.uri))),
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def header(request: web.Request) -> web.Response:
    return web.Response(
        body=png(150, 50, (0x1D, 0x24, 0x30)),
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/avatars/{id}.png", avatar)
    app.router.add_get("/headers/default.png", header)
