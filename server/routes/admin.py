"""Pages for the instance's admins (members with the admin role): overview, movements, spaces, members and
roles, join requests, invitations, domain blocks, delivery queue health, instance settings, the inbox journal."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from federation.journal import list_entries, retry_parked
from models import InboxEntry, InboxState
from server import sessions
from server.access import admin_of
from server.keys import FED
from server.routes import admin_pages
from server.routes.common import render

TROUBLE = [InboxState.parked.value, InboxState.refused.value]


async def inbox_page(request: web.Request) -> web.Response:
    member = await admin_of(request)
    session = await sessions.load(request)
    fed = request.app[FED]
    entries = await list_entries(fed, TROUBLE, limit=500)
    async with fed.db.session() as db:
        counts = dict(
            (await db.execute(select(InboxEntry.state, func.count()).group_by(InboxEntry.state))).all()
        )
    response = render(
        request,
        "admin_inbox.html",
        host=fed.settings.host,
        viewer=member,
        csrf=session.csrf,
        entries=entries,
        counts={s.value: counts.get(s.value, 0) for s in InboxState},
        done=request.query.get("retried"),
    )
    return await sessions.keep(request, response)


async def inbox_retry(request: web.Request) -> web.Response:
    form = await request.post()
    await sessions.check_csrf(request, form)
    await admin_of(request)
    raw = str(form.get("id", "")).strip()
    count = await retry_parked(request.app[FED], int(raw) if raw.isdigit() else None)
    raise web.HTTPSeeOther(f"/admin/inbox?retried={count}")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/inbox", inbox_page)
    app.router.add_post("/admin/inbox/retry", inbox_retry)
    admin_pages.setup(app)
