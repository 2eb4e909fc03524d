"""The forms around proposals: the list of my movement's proposals, a new proposal (parties found by
handle with WebFinger), and the confirmation step before signing, declining or withdrawing."""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy import select

from federation.actors import ActorError, resolve_handle
from federation.agreements.actions import create_proposal, ensure_actors
from federation.agreements.lifecycle import refresh_expiry
from federation.agreements.store import agreement_by_uri, members_of, signatures_of, version_of
from federation.decisions.mandate import passing_outcome
from federation.refusal import Refusal
from models import Actor
from models.agreement import Proposal, ProposalParty
from models.decision import settings_of
from server import sessions
from server.keys import FED
from server.routes.agreements import _page, _viewer, proposal_path

ACTIONS = {
    "sign": "Sign",
    "decline": "Decline",
    "withdraw": "Withdraw the proposal",
    "leave": "Withdraw from the agreement",
}


def _signatory(member, movement) -> bool:
    return member is not None and movement is not None and member.role in ("signatory", "admin")


# ---------------------------------------------------------------- /proposals


async def list_page(request: web.Request) -> web.Response:
    """Proposals involving my movement (every proposal this instance knows when signed out), by state,
    with those waiting for my movement's signature first."""
    fed = request.app[FED]
    _, member, movement = await _viewer(request)
    async with fed.db.session() as session:
        query = select(Proposal).order_by(Proposal.updated_at.desc()).limit(500)
        if movement is not None:
            query = query.join(ProposalParty, ProposalParty.proposal_id == Proposal.id).where(
                ProposalParty.actor_uri == movement.uri
            )
        proposals = list((await session.scalars(query)).unique().all())
        for proposal in proposals:
            await refresh_expiry(session, proposal)
        needs: list[Proposal] = []
        if movement is not None:
            for proposal in proposals:
                if proposal.state != "open":
                    continue
                party = next(
                    (
                        m
                        for m in await members_of(session, proposal)
                        if m.actor_uri == movement.uri and m.role == "party"
                    ),
                    None,
                )
                signed = any(
                    s.signer_uri == movement.uri and s.version_hash == proposal.current_version
                    for s in await signatures_of(session, proposal)
                )
                if party is not None and not party.declined_at and not party.withdrawn_at and not signed:
                    needs.append(proposal)
    groups: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        groups.setdefault(proposal.state, []).append(proposal)
    return await _page(
        request,
        "proposals.html",
        needs=needs,
        groups=groups,
        may_propose=_signatory(member, movement),
    )


# ---------------------------------------------------------------- /proposals/new


FIELDS = ("title", "text", "parties", "mediator", "starts", "ends", "renews", "language", "tlang", "ttext")


async def new_form(request: web.Request) -> web.Response:
    _, member, movement = await _viewer(request)
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    if not _signatory(member, movement):
        raise web.HTTPForbidden(text="Only signatories and admins of a movement may propose agreements.")
    values = {k: "" for k in FIELDS} | {"renews": request.query.get("renews", "")}
    if values["renews"]:
        async with request.app[FED].db.session() as session:
            old = await agreement_by_uri(session, values["renews"])
            if old is not None:
                values["title"] = old.title
                current = await version_of(session, old, old.agreed_version or old.current_version)
                values["text"] = current.document.get("source", {}).get("content", "") if current else ""
                values["parties"] = "\n".join(
                    m.actor_uri for m in await members_of(session, old) if m.actor_uri != movement.uri
                )
    return await _page(request, "proposal_new.html", values=values, error=None)


def _date(value: str, end_of_day: bool, what: str) -> dt.datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise Refusal(400, f"the {what} date must be YYYY-MM-DD") from None
    moment = dt.datetime.combine(day, dt.time(23, 59, 59) if end_of_day else dt.time(0, 0), dt.timezone.utc)
    return moment


async def _resolve(fed, ref: str) -> Actor:
    """A movement by handle (name@host, looked up with WebFinger) or actor URL."""
    from federation.actors import get_actor

    try:
        return await (get_actor(fed, ref) if "://" in ref else resolve_handle(fed, ref.lstrip("@")))
    except ActorError as error:
        raise Refusal(400, f"cannot find {ref}: {error}") from None


async def create(request: web.Request) -> web.Response:
    fed = request.app[FED]
    form = await request.post()
    await sessions.check_csrf(request, form)
    _, member, movement = await _viewer(request)
    if not _signatory(member, movement):
        raise web.HTTPForbidden(text="Only signatories and admins of a movement may propose agreements.")
    values = {k: str(form.get(k) or "") for k in FIELDS}
    try:
        title, text = values["title"].strip(), values["text"]
        if not title:
            raise Refusal(400, "a proposal needs a title")
        if not text.strip():
            raise Refusal(400, "the proposal's text is empty")
        handles = [h.strip() for h in values["parties"].replace(",", "\n").split() if h.strip()]
        if not handles:
            raise Refusal(400, "name at least one other party (name@host)")
        if len(handles) > 50:
            raise Refusal(400, "at most 50 parties from this form")
        start = _date(values["starts"], False, "start")
        end = _date(values["ends"], True, "end")
        parties = [await _resolve(fed, h) for h in handles]
        mediator = await _resolve(fed, values["mediator"].strip()) if values["mediator"].strip() else None
        renews = values["renews"].strip() or None
        if renews:
            async with fed.db.session() as session:
                old = await agreement_by_uri(session, renews)
                old_members = [m.actor_uri for m in await members_of(session, old)] if old else []
            await ensure_actors(fed, old_members)
        translations = {}
        if values["ttext"].strip():
            if not values["tlang"].strip():
                raise Refusal(400, "say which language the translation is in")
            translations[values["tlang"].strip()[:16]] = values["ttext"]
        async with fed.db.session() as session:
            proposal = await create_proposal(
                session,
                fed,
                await session.get(Actor, movement.id),
                title[:2000],
                text,
                [await session.get(Actor, p.id) for p in parties],
                await session.get(Actor, mediator.id) if mediator else None,
                start,
                end,
                renews,
                values["language"].strip()[:16] or None,
                translations,
            )
    except Refusal as error:
        response = await _page(request, "proposal_new.html", values=values, error=error.message)
        response.set_status(error.status if 400 <= error.status < 500 else 400)
        return response
    fed.deliveries_queued.set()
    raise web.HTTPSeeOther(proposal_path(proposal))


# ---------------------------------------------------------------- confirmation


async def confirm_page(request: web.Request) -> web.Response:
    """What signing (declining, withdrawing) means, the version it binds to, a reason, and a confirm button."""
    fed = request.app[FED]
    action = request.match_info["action"]
    _, member, movement = await _viewer(request)
    async with fed.db.session() as session:
        proposal = await session.get(Proposal, int(request.match_info["id"]))
        if proposal is None:
            raise web.HTTPNotFound(text="no such proposal")
        await refresh_expiry(session, proposal)
        back = proposal_path(proposal)
        if member is None:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
        if not _signatory(member, movement):
            raise web.HTTPSeeOther(f"{back}?notice=not-signatory")
        version = await version_of(session, proposal, proposal.current_version)
        outcome = required = None
        if action == "sign" and version is not None:
            outcome = await passing_outcome(session, movement, proposal, version.hash)
            required = (await settings_of(session, movement.id)).require_mandate
    return await _page(
        request,
        "proposal_confirm.html",
        proposal=proposal,
        action=action,
        verb=ACTIONS[action],
        version=version,
        outcome=outcome,
        required=required,
        back=back,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/proposals", list_page)
    app.router.add_get("/proposals/new", new_form)
    app.router.add_post("/proposals/new", create)
    app.router.add_get("/proposals/{id:\\d+}/{action:(sign|decline|withdraw|leave)}", confirm_page)
