"""The admin pages beyond the inbox journal: overview, movements, spaces, members and roles, join requests,
invitations, domain blocks, delivery queue health and instance settings."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlalchemy import func, select

from federation.accounts.blocks import (
    block_domain,
    forget_cache,
    list_blocks,
    normalise_domain,
    unblock_domain,
)
from federation.accounts.instance import SIGNUP_MODES, instance_info, save_instance_info
from federation.accounts.invitations import (
    create_invitation,
    invitation_url,
    list_invitations,
    revoke_invitation,
)
from federation.accounts.invitations import state_of as invitation_state
from federation.accounts.joining import decide, pending_requests
from federation.accounts.resets import create_reset, reset_url
from federation.actors import ActorError, create_local_actor
from federation.refusal import Refusal
from federation.spaces.store import create_space
from federation.urls import INSTANCE_ACTOR
from models import Actor, Delivery, InboxEntry, utcnow
from models.actor import ROLES, local_movement, local_person
from models.delivery import PENDING
from models.space import Space
from server.access import admin_of
from server.keys import FED
from server.page_context import forget_info
from server.routes.accounts import field, form_of, movements, page

LIMITS = {"slug": 64, "name": 100, "summary": 2000, "rules": 5000, "reason": 500}


async def admin_form(request: web.Request):
    form = await form_of(request)
    return form, await admin_of(request)


def limited(form, name: str) -> str:
    value = field(form, name).strip()
    if len(value) > LIMITS.get(name, 200):
        raise Refusal(400, f"The {name} may have at most {LIMITS.get(name, 200)} characters.")
    return value


def back(path: str, **query) -> web.HTTPSeeOther:
    tail = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return web.HTTPSeeOther(path + (f"?{tail}" if tail else ""))


async def admin_page(request: web.Request, template: str, admin: Actor, status: int = 200, **context):
    return await page(
        request,
        template,
        status=status,
        admin=admin,
        done=request.query.get("done"),
        error=context.pop("error", None),
        **context,
    )


# ---------------------------------------------------------------- overview


async def overview(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        found = await movements(db)
        members = await db.scalar(
            select(func.count()).select_from(Actor).where(Actor.local.is_(True), Actor.type == "Person")
        )
        spaces = await db.scalar(select(func.count()).select_from(Space).where(Space.local.is_(True)))
        requests = len(await pending_requests(db))
        blocks = len(await list_blocks(db))
        deliveries = dict(
            (await db.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
        inbox = dict(
            (await db.execute(select(InboxEntry.state, func.count()).group_by(InboxEntry.state))).all()
        )
    return await admin_page(
        request,
        "admin_overview.html",
        admin,
        movements=len(found),
        members=members,
        spaces=spaces,
        requests=requests,
        blocks=blocks,
        deliveries=deliveries,
        inbox=inbox,
    )


# ---------------------------------------------------------------- movements and spaces


async def movements_page(request: web.Request, error: str | None = None, status: int = 200, typed=None):
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        found = await movements(db)
        counts = dict(
            (
                await db.execute(
                    select(Actor.movement_id, func.count())
                    .where(Actor.movement_id.is_not(None), Actor.type == "Person")
                    .group_by(Actor.movement_id)
                )
            ).all()
        )
    return await admin_page(
        request,
        "admin_movements.html",
        admin,
        status,
        movements=found,
        counts=counts,
        error=error,
        typed=typed or {},
    )


async def movement_create(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    typed = {k: field(form, k) for k in ("slug", "name", "summary")}
    fed = request.app[FED]
    try:
        slug, name, summary = limited(form, "slug").lower(), limited(form, "name"), limited(form, "summary")
        async with fed.db.session() as db:
            await create_local_actor(db, fed, slug, "Group", name=name or slug, summary=summary or None)
    except (Refusal, ActorError) as error:
        return await movements_page(request, getattr(error, "message", str(error)), 400, typed)
    raise back("/admin/movements", done=f"Movement {slug} created.")


async def spaces_page(request: web.Request, error: str | None = None, status: int = 200, typed=None):
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        found = await movements(db)
        rows = (
            await db.execute(
                select(Space, Actor).join(Actor, Actor.id == Space.actor_id).where(Space.local.is_(True))
            )
        ).all()
        owners = {m.id: m for m in found}
    return await admin_page(
        request,
        "admin_spaces.html",
        admin,
        status,
        spaces=[(s, a, owners.get(s.owner_id)) for s, a in rows],
        movements=found,
        error=error,
        typed=typed or {},
    )


async def space_create(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    typed = {k: field(form, k) for k in ("slug", "name", "summary", "rules", "movement", "members_only")}
    fed = request.app[FED]
    try:
        slug, name = limited(form, "slug").lower(), limited(form, "name")
        summary, rules = limited(form, "summary"), limited(form, "rules")
        async with fed.db.session() as db:
            owner = await local_movement(db, typed["movement"])
            if owner is None:
                raise Refusal(400, "Choose the movement that owns the space.")
            await create_space(
                db,
                fed,
                slug,
                name or slug,
                owner,
                description=summary or None,
                rules=rules or None,
                members_only=[owner] if typed["members_only"] else [],
            )
    except (Refusal, ActorError) as error:
        return await spaces_page(request, getattr(error, "message", str(error)), 400, typed)
    raise back("/admin/spaces", done=f"Space {slug} created.")


# ---------------------------------------------------------------- members, roles, join requests, resets


async def members_page(request: web.Request, error: str | None = None, status: int = 200, link=None):
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        found = await movements(db)
        names = {m.id: m for m in found}
        people = (
            await db.scalars(
                select(Actor)
                .where(Actor.local.is_(True), Actor.type == "Person", Actor.username != INSTANCE_ACTOR)
                .order_by(Actor.username)
            )
        ).all()
        requests = await pending_requests(db)
    return await admin_page(
        request,
        "admin_members.html",
        admin,
        status,
        people=people,
        movements=names,
        roles=ROLES,
        requests=requests,
        error=error,
        link=link,
    )


async def member_role(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    role = field(form, "role")
    async with request.app[FED].db.session() as db:
        member = await local_person(db, request.match_info["name"])
        if member is None:
            raise web.HTTPNotFound(text="There is no such member.")
        if role not in ROLES:
            return await members_page(request, f"A role is one of {', '.join(ROLES)}.", 400)
        if member.id == admin.id and role != "admin":
            return await members_page(request, "You cannot take the admin role from yourself.", 409)
        member.role = role
    raise back("/admin/members", done=f"{member.username} is now {role}.")


async def member_reset(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    fed = request.app[FED]
    async with fed.db.session() as db:
        member = await local_person(db, request.match_info["name"])
        if member is None:
            raise web.HTTPNotFound(text="There is no such member.")
        token = await create_reset(db, member, admin)
    return await members_page(request, link=(member.username, reset_url(fed, token)))


async def join_decide(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    raw = request.match_info["id"]
    approve = field(form, "decision") == "approve"
    fed = request.app[FED]
    try:
        async with fed.db.session() as db:
            member = await decide(db, fed, int(raw), approve, admin)
    except Refusal as refusal:
        return await members_page(request, refusal.message, refusal.status)
    raise back("/admin/members", done=f"{member.username} is now a member." if member else "Request refused.")


# ---------------------------------------------------------------- invitations


async def invitations_page(request: web.Request, error=None, status: int = 200, link=None) -> web.Response:
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        found = await movements(db)
        rows = await list_invitations(db)
    now = utcnow()
    return await admin_page(
        request,
        "admin_invitations.html",
        admin,
        status,
        movements=found,
        roles=ROLES,
        invitations=[(i, m, invitation_state(i, now)) for i, m in rows],
        error=error,
        link=link,
    )


async def invitation_create(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    fed = request.app[FED]
    try:
        try:
            uses, days = int(field(form, "uses") or 1), float(field(form, "days") or 7)
        except ValueError:
            raise Refusal(400, "Uses and days are numbers.") from None
        async with fed.db.session() as db:
            movement = await local_movement(db, field(form, "movement"))
            if movement is None:
                raise Refusal(400, "Choose the movement the invited person joins.")
            _, token = await create_invitation(
                db, movement, field(form, "role") or "member", uses, days, admin
            )
    except Refusal as refusal:
        return await invitations_page(request, refusal.message, refusal.status)
    return await invitations_page(request, link=invitation_url(fed, token))


async def invitation_revoke(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    raw = field(form, "id")
    async with request.app[FED].db.session() as db:
        done = raw.isdigit() and await revoke_invitation(db, int(raw))
    raise back("/admin/invitations", done="Invitation revoked." if done else "Nothing to revoke.")


# ---------------------------------------------------------------- domain blocks


async def blocks_page(request: web.Request, error=None, status: int = 200, typed=None) -> web.Response:
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        blocks = await list_blocks(db)
    return await admin_page(
        request, "admin_blocks.html", admin, status, blocks=blocks, error=error, typed=typed or {}
    )


async def block_add(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    typed = {"domain": field(form, "domain"), "reason": field(form, "reason")}
    try:
        reason = limited(form, "reason")
        async with request.app[FED].db.session() as db:
            block = await block_domain(db, typed["domain"], reason, admin)
    except Refusal as refusal:
        return await blocks_page(request, refusal.message, refusal.status, typed)
    forget_cache(request.app[FED])
    raise back("/admin/blocks", done=f"{block.domain} is blocked.")


async def block_remove(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    try:
        domain = normalise_domain(field(form, "domain"))
    except Refusal as refusal:
        return await blocks_page(request, refusal.message, refusal.status)
    async with request.app[FED].db.session() as db:
        done = await unblock_domain(db, domain)
    forget_cache(request.app[FED])
    raise back(
        "/admin/blocks", done=f"{domain} is no longer blocked." if done else f"{domain} was not blocked."
    )


# ---------------------------------------------------------------- delivery queue health


async def deliveries_page(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    now = utcnow()
    async with request.app[FED].db.session() as db:
        states = dict((await db.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all())
        oldest_due = await db.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now
            )
        )
        hosts = (
            await db.execute(
                select(Delivery.host, Delivery.state, func.count(), func.max(Delivery.last_error))
                .where(Delivery.state.in_([*PENDING, "failed"]))
                .group_by(Delivery.host, Delivery.state)
                .order_by(func.count().desc())
                .limit(50)
            )
        ).all()
    waiting = int((now - oldest_due).total_seconds()) if oldest_due else 0
    health = "failing" if waiting > 3600 else "slow" if waiting > 600 else "healthy"
    return await admin_page(
        request, "admin_deliveries.html", admin, states=states, waiting=waiting, health=health, hosts=hosts
    )


# ---------------------------------------------------------------- instance settings


async def settings_page(request: web.Request, error=None, status: int = 200, typed=None) -> web.Response:
    admin = await admin_of(request)
    async with request.app[FED].db.session() as db:
        current = await instance_info(db, request.app[FED].settings)
    if typed:
        for key, value in typed.items():
            setattr(current, key, value)
    return await admin_page(
        request, "admin_settings.html", admin, status, info=current, modes=SIGNUP_MODES, error=error
    )


async def settings_save(request: web.Request) -> web.Response:
    form, admin = await admin_form(request)
    typed = {k: field(form, k) for k in ("title", "description", "rules", "signup")}
    try:
        async with request.app[FED].db.session() as db:
            await save_instance_info(db, **typed)
    except Refusal as refusal:
        return await settings_page(request, refusal.message, refusal.status, typed)
    forget_info(request.app)
    raise back("/admin/settings", done="Settings saved.")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", overview)
    app.router.add_get("/admin/movements", movements_page)
    app.router.add_post("/admin/movements", movement_create)
    app.router.add_get("/admin/spaces", spaces_page)
    app.router.add_post("/admin/spaces", space_create)
    app.router.add_get("/admin/members", members_page)
    app.router.add_post("/admin/members/{name}/role", member_role)
    app.router.add_post("/admin/members/{name}/reset", member_reset)
    app.router.add_post("/admin/requests/{id:\\d+}", join_decide)
    app.router.add_get("/admin/invitations", invitations_page)
    app.router.add_post("/admin/invitations", invitation_create)
    app.router.add_post("/admin/invitations/revoke", invitation_revoke)
    app.router.add_get("/admin/blocks", blocks_page)
    app.router.add_post("/admin/blocks", block_add)
    app.router.add_post("/admin/blocks/remove", block_remove)
    app.router.add_get("/admin/deliveries", deliveries_page)
    app.router.add_get("/admin/settings", settings_page)
    app.router.add_post("/admin/settings", settings_save)
