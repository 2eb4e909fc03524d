"""Pages and JSON-LD of proposals, agreements and movement charters, and the vocabulary's context."""
from __future__ import annotations

import json

from aiohttp import web
from sqlalchemy import select

import federation.agreement_inbox  # noqa: F401  (registers the agreements' inbox hooks)
from federation.agreements import CONTEXT_DOCUMENT, CONTEXT_PATH, proposal_document
from models.agreement import AGREED_STATES, Proposal
from server.keys import FED
from server.routes.common import activity_json, wants_json


def _not_found(request: web.Request, what: str) -> web.HTTPNotFound:
    if wants_json(request):
        return web.HTTPNotFound(text=json.dumps({"error": what}), content_type="application/json")
    return web.HTTPNotFound(text=what)


async def context(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps(CONTEXT_DOCUMENT, indent=1), content_type="application/ld+json",
                        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"})


async def _local_proposal(request: web.Request, kind: str) -> Proposal:
    fed = request.app[FED]
    uri = f"{fed.urls.base}/{kind}/{request.match_info['key']}"
    column = Proposal.uri if kind == "proposals" else Proposal.agreement_uri
    async with fed.db.session() as session:
        proposal = await session.scalar(select(Proposal).where(column == uri, Proposal.local.is_(True)))
    if proposal is None:
        raise _not_found(request, f"no {kind[:-1]} {uri} here")
    return proposal


async def proposal_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    proposal = await _local_proposal(request, "proposals")
    async with fed.db.session() as session:
        return activity_json(await proposal_document(session, fed, await session.get(Proposal, proposal.id)),
                             request=request)


async def agreement_page(request: web.Request) -> web.Response:
    proposal = await _local_proposal(request, "agreements")
    if proposal.state not in {s.value for s in AGREED_STATES} or not proposal.agreement_canonical:
        raise _not_found(request, "not an agreement (yet)")
    return web.Response(body=proposal.agreement_canonical.encode("utf-8"), content_type="application/activity+json",
                        headers={"Vary": "Accept"})


def setup(app: web.Application) -> None:
    app.router.add_get(CONTEXT_PATH, context)
    app.router.add_get("/proposals/{key}", proposal_page)
    app.router.add_get("/agreements/{key}", agreement_page)
