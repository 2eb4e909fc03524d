"""Internal decisions on the web: /decisions/N (HTML, or the Question / outcome record as JSON-LD), voting,
opening a decision from a proposal page, and a movement's decision settings."""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import select

from federation.decisions.lifecycle import cast_vote, close_if_due, document_of, open_decision
from federation.decisions.settings import parse_settings, save_settings
from federation.refusal import Refusal
from models import Actor, utcnow
from models.actor import local_movement
from models.agreement import Proposal
from models.decision import KINDS, Decision, DecisionState, settings_of, votes_of
from server import notices, sessions
from server.keys import FED
from server.routes.agreements import _page, _viewer, proposal_path
from server.routes.common import activity_json, not_found, wants_json

KIND_LABELS = {
    "consent": "consent or objection",
    "agree": "agree / abstain / disagree / block",
}


async def _decision(request: web.Request) -> Decision:
    fed = request.app[FED]
    async with fed.db.session() as session:
        decision = await session.get(Decision, int(request.match_info["id"]))
        if decision is not None:
            await close_if_due(session, fed, decision)
    if decision is None:
        raise not_found(request, "no such decision here")
    if decision.state == DecisionState.closed.value:
        fed.deliveries_queued.set()
    return decision


async def decision_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    decision = await _decision(request)
    if wants_json(request) or request.query.get("format") == "json":
        if decision.record is not None:  # the frozen outcome record: the exact text its digest names
            return web.Response(
                body=decision.record.encode("utf-8"),
                content_type="application/activity+json",
                headers={"Vary": "Accept", "Access-Control-Allow-Origin": "*"},
            )
        async with fed.db.session() as session:
            return activity_json(await document_of(session, fed, decision), request=request)
    _, member, movement = await _viewer(request)
    async with fed.db.session() as session:
        owner = await session.get(Actor, decision.movement_id)
        proposal = await session.get(Proposal, decision.proposal_id) if decision.proposal_id else None
        votes = await votes_of(session, decision.id)
    is_member = member is not None and member.movement_id == decision.movement_id
    mine = next((v for v in votes if member is not None and v.voter_uri == member.uri), None)
    hidden = decision.hide_results and decision.state == DecisionState.open.value
    counts = {o: 0 for o in KINDS[decision.kind]}
    followers = {o: 0 for o in KINDS[decision.kind]}
    for v in votes:
        tally = counts if v.member else followers
        tally[v.choice] = tally.get(v.choice, 0) + 1
    return await _page(
        request,
        "decision.html",
        decision=decision,
        owner=owner,
        proposal=proposal,
        votes=votes,
        counts=counts,
        followers=followers,
        hidden=hidden,
        options=KINDS[decision.kind],
        kind_label=KIND_LABELS[decision.kind],
        may_vote=decision.state == DecisionState.open.value
        and (is_member or (member is not None and not decision.members_only)),
        is_member=is_member,
        mine=mine,
        message=notices.text_of(request.query.get("notice")),
    )


async def vote(request: web.Request) -> web.Response:
    fed = request.app[FED]
    form = await request.post()
    await sessions.check_csrf(request, form)
    _, member, _ = await _viewer(request)
    back = f"/decisions/{int(request.match_info['id'])}"
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={back}")
    try:
        async with fed.db.session() as session:
            decision = await session.get(Decision, int(request.match_info["id"]))
            if decision is None:
                raise web.HTTPNotFound(text="no such decision")
            await cast_vote(
                session, fed, decision, await session.get(Actor, member.id), str(form.get("choice") or "")
            )
    except Refusal as error:
        raise web.HTTPSeeOther(f"{back}?notice={notices.code_for(error.message)}") from None
    fed.deliveries_queued.set()
    raise web.HTTPSeeOther(back)


def _deadline(form) -> dt.datetime | None:
    raw = str(form.get("closes") or "").strip()
    if raw:
        try:
            moment = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise Refusal(400, "the deadline must be a date and time (YYYY-MM-DDTHH:MM, UTC)") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    hours = str(form.get("hours") or "").strip()
    if hours:
        try:
            value = float(hours)
        except ValueError:
            raise Refusal(400, "the duration must be a number of hours") from None
        if not 0 < value <= 24 * 365:
            raise Refusal(400, "the duration must be between 0 and a year")
        return utcnow() + dt.timedelta(hours=value)
    return None


async def open_from_proposal(request: web.Request) -> web.Response:
    """A signatory of a party opens a decision of its movement on the proposal's current version."""
    fed = request.app[FED]
    form = await request.post()
    await sessions.check_csrf(request, form)
    _, member, movement = await _viewer(request)
    async with fed.db.session() as session:
        proposal = await session.get(Proposal, int(request.match_info["id"]))
    if proposal is None:
        raise web.HTTPNotFound(text="no such proposal")
    back = proposal_path(proposal)
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={back}")
    if movement is None or member.role not in ("signatory", "admin"):
        raise web.HTTPSeeOther(f"{back}?notice=not-signatory")
    try:
        async with fed.db.session() as session:
            decision = await open_decision(
                session,
                fed,
                await session.get(Actor, movement.id),
                await session.get(Proposal, proposal.id),
                str(form.get("question") or ""),
                str(form.get("kind") or "consent"),
                _deadline(form),
                members_only=form.get("open_poll") != "yes",
                hide_results=form.get("hide_results") == "yes" or None,
                opened_by=await session.get(Actor, member.id),
            )
    except Refusal as error:
        if error.status == 400:
            raise web.HTTPBadRequest(text=error.message) from None
        raise web.HTTPSeeOther(f"{back}?notice={notices.code_for(error.message)}") from None
    fed.deliveries_queued.set()
    raise web.HTTPSeeOther(f"/decisions/{decision.id}")


# ---------------------------------------------------------------- settings


async def settings_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    name = request.match_info["name"]
    _, member, _ = await _viewer(request)
    async with fed.db.session() as session:
        movement = await local_movement(session, name)
        if movement is None:
            raise not_found(request, f"no movement called {name} here")
        settings = await settings_of(session, movement.id)
        recent = (
            await session.scalars(
                select(Decision)
                .where(Decision.movement_id == movement.id)
                .order_by(Decision.id.desc())
                .limit(100)
            )
        ).all()
    may_edit = member is not None and member.movement_id == movement.id and member.role == "admin"
    if request.method == "POST":
        form = await request.post()
        await sessions.check_csrf(request, form)
        if not may_edit:
            raise web.HTTPForbidden(text="Only admins of the movement change how it decides.")
        try:
            values = parse_settings(
                form.get("quorum"),
                form.get("threshold"),
                form.get("duration_hours"),
                "yes" if form.get("require_mandate") == "yes" else "no",
                "yes" if form.get("hide_results") == "yes" else "no",
            )
        except Refusal as error:
            raise web.HTTPBadRequest(text=error.message) from None
        async with fed.db.session() as session:
            await save_settings(session, movement.id, values)
        raise web.HTTPSeeOther(request.path + "?notice=saved")
    return await _page(
        request,
        "movement_settings.html",
        movement=movement,
        settings=settings,
        may_edit=may_edit,
        saved=request.query.get("notice") == "saved",
        decisions=recent,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/decisions/{id:\\d+}", decision_page)
    app.router.add_post("/decisions/{id:\\d+}/vote", vote)
    app.router.add_post("/proposals/{id:\\d+}/decide", open_from_proposal)
    app.router.add_get("/actors/{name}/decisions", settings_page)
    app.router.add_post("/actors/{name}/decisions", settings_page)
