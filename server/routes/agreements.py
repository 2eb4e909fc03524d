"""Pages and JSON-LD of proposals, agreements and movement charters, the forms signatories use, and
the vocabulary's context."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import or_, select

from federation.agreements.actions import amend, comment, decline, sign, withdraw
from federation.agreements.charter import GROUPS, CharterPage
from federation.agreements.charter import charter_page as charter_page_of
from federation.agreements.documents import (
    CONTEXT_DOCUMENT,
    CONTEXT_PATH,
    agreement_document,
    proposal_document,
)
from federation.agreements.lifecycle import refresh_expiry
from federation.agreements.store import agreement_by_uri, members_of, signatures_of, versions_of
from federation.agreements.verify import VERIFIED, Report, verify_agreement
from federation.content import sanitize_html
from federation.decisions.lifecycle import decisions_on
from federation.proofs import ed25519_public
from federation.refusal import Refusal
from federation.vocabulary import AS
from models import Actor, Key, Object
from models.actor import actors_by_uris, local_movement
from models.agreement import AGREED_STATES, Proposal, ProposalEvent, ProposalParty
from server import notices, sessions
from server.agreement_views import Node, party_graph, text_diff
from server.keys import FED
from server.routes.common import activity_json, not_found, render, wants_json

AGREED = {s.value for s in AGREED_STATES}
STATE_LABELS = {
    "draft": "draft",
    "open": "open for signature",
    "agreed": "in force",
    "declined": "declined",
    "withdrawn_by_author": "withdrawn by its author",
    "expired": "expired",
    "withdrawn_by_party": "dissolved: parties withdrew",
    "superseded": "superseded",
    "in_force": "in force",
    "withdrawn": "withdrawn",
}


def proposal_path(proposal: Proposal) -> str:
    return urlsplit(proposal.uri).path if proposal.local else f"/proposals/r/{proposal.id}"


def agreement_path(proposal: Proposal) -> str:
    return urlsplit(proposal.agreement_uri).path if proposal.local else f"/agreements/r/{proposal.id}"


async def context(request: web.Request) -> web.Response:
    return web.Response(
        text=json.dumps(CONTEXT_DOCUMENT, indent=1),
        content_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )


async def _find(request: web.Request, kind: str) -> Proposal:
    """The proposal behind /proposals/KEY, /agreements/KEY (ours) or /proposals/r/ID, /agreements/r/ID (copies)."""
    fed = request.app[FED]
    async with fed.db.session() as session:
        if "id" in request.match_info:
            proposal = await session.get(Proposal, int(request.match_info["id"]))
        else:
            uri = f"{fed.urls.base}/{kind}/{request.match_info['key']}"
            column = Proposal.uri if kind == "proposals" else Proposal.agreement_uri
            proposal = await session.scalar(select(Proposal).where(column == uri, Proposal.local.is_(True)))
        if proposal is not None:
            await refresh_expiry(session, proposal)
    if proposal is None:
        raise not_found(request, f"no such {kind[:-1]} here")
    return proposal


async def _viewer(request: web.Request) -> tuple[sessions.Session, Actor | None, Actor | None]:
    """The session, the signed-in member (if any) and that member's movement; read once per request."""
    if "agreements.viewer" not in request:
        session = await sessions.load(request)
        member = movement = None
        if session.member_id is not None:
            async with request.app[FED].db.session() as db:
                member = await db.get(Actor, session.member_id)
                movement = await db.get(Actor, member.movement_id) if member and member.movement_id else None
        request["agreements.viewer"] = (session, member, movement)
    return request["agreements.viewer"]


async def _page(request: web.Request, template: str, **context) -> web.Response:
    session, member, movement = await _viewer(request)
    fed = request.app[FED]
    response = render(
        request,
        template,
        host=fed.settings.host,
        viewer=member,
        viewer_movement=movement,
        csrf=session.csrf,
        path=request.path_qs,
        labels=STATE_LABELS,
        sanitize=sanitize_html,
        proposal_path=proposal_path,
        agreement_path=agreement_path,
        **context,
    )
    return await sessions.keep(request, response)


async def _actors(session, uris) -> dict[str, Actor]:
    uris = list({u for u in uris if u})
    return {a.uri: a for a in await actors_by_uris(session, uris)}


def _label(actors: dict[str, Actor], uri: str) -> str:
    actor = actors.get(uri)
    return (actor.name or actor.username) if actor else urlsplit(uri).netloc + urlsplit(uri).path


async def known_key_resolver(session, document: dict):
    """Keys of the signers as this instance holds them (fetched and checked when the proofs arrived)."""
    from federation.vocabulary import as_list

    methods = [p.get("verificationMethod") for p in as_list(document.get("proof")) if isinstance(p, dict)]
    rows = (
        (
            await session.execute(
                select(Key.uri, Key.public, Actor.uri.label("owner"))
                .join(Actor, Actor.id == Key.actor_id)
                .where(Key.uri.in_([m for m in methods if isinstance(m, str)]), Key.kind == "ed25519")
            )
        ).all()
        if methods
        else []
    )
    keys = {}
    for row in rows:
        try:
            keys[row.uri] = (row.owner, ed25519_public(row.public))
        except ValueError:
            continue
    return keys.get


async def verify_known(session, document: dict) -> Report:
    return verify_agreement(document, await known_key_resolver(session, document))


# ---------------------------------------------------------------- proposal page


def _pick(versions, prefix: str | None):
    if not prefix:
        return None
    return next((v for v in versions if v.hash.startswith(prefix)), None)


async def proposal_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    proposal = await _find(request, "proposals")
    if wants_json(request) or request.query.get("format") == "json":
        if not proposal.local:
            raise web.HTTPFound(proposal.uri)
        async with fed.db.session() as session:
            return activity_json(
                await proposal_document(session, fed, await session.get(Proposal, proposal.id)),
                request=request,
            )
    async with fed.db.session() as session:
        members = await members_of(session, proposal)
        parties = [m for m in members if m.role == "party"]
        mediator = next((m for m in members if m.role == "mediator"), None)
        versions = await versions_of(session, proposal)
        signatures = await signatures_of(session, proposal)
        comments = (
            await session.scalars(
                select(Object)
                .where(
                    or_(Object.context == proposal.uri, Object.in_reply_to == proposal.uri),
                    Object.deleted_at.is_(None),
                )
                .order_by(Object.published, Object.id)
                .limit(500)
            )
        ).all()
        events = (
            await session.scalars(
                select(ProposalEvent)
                .where(ProposalEvent.proposal_id == proposal.id)
                .order_by(ProposalEvent.id)
            )
        ).all()
        authors = {c.attributed_to_id for c in comments}
        comment_authors = (
            {a.id: a for a in (await session.scalars(select(Actor).where(Actor.id.in_(authors)))).all()}
            if authors
            else {}
        )
        actors = await _actors(
            session,
            [m.actor_uri for m in members]
            + [v.author_uri for v in versions]
            + [proposal.author_uri]
            + [e.actor_uri for e in events],
        )
        renews = await agreement_by_uri(session, proposal.renews_uri)
    signed = {(s.version_hash, s.signer_uri) for s in signatures}
    current = next(
        (v for v in versions if v.hash == proposal.current_version), versions[-1] if versions else None
    )
    ordered = [v for v in versions if v.seq is not None]
    new = _pick(ordered, request.query.get("to")) or current
    old = _pick(ordered, request.query.get("from"))
    if old is None and new is not None and new.document.get("previousVersion"):
        old = _pick(ordered, new.document["previousVersion"])
    diff = (
        text_diff(old.document["source"]["content"], new.document["source"]["content"])
        if old is not None and new is not None and old.hash != new.hash
        else None
    )

    def state_of(uri: str) -> str:
        member = next((m for m in parties if m.actor_uri == uri), None)
        if member and member.withdrawn_at:
            return "withdrawn"
        if member and member.declined_at:
            return "declined"
        return "signed" if current and (current.hash, uri) in signed else "pending"

    nodes = [Node(_label(actors, p.actor_uri), p.actor_uri, state_of(p.actor_uri)) for p in parties]
    center = Node(_label(actors, mediator.actor_uri), mediator.actor_uri, "mediator") if mediator else None
    for node in nodes + ([center] if center else []):
        node.hue = _hue(node.href)
    graph = party_graph(nodes, center)
    may_sign = await _may_act(request, parties)
    acted = {s.signer_uri: s for s in signatures if current is not None and s.version_hash == current.hash}
    async with fed.db.session() as session:
        decisions = await decisions_on(session, proposal.id)
        owners = (
            {
                a.id: a
                for a in await session.scalars(
                    select(Actor).where(Actor.id.in_({d.movement_id for d in decisions}))
                )
            }
            if decisions
            else {}
        )
        actors.update(
            await _actors(
                session,
                [s.acted_by_uri for s in acted.values()]
                + [
                    p.decline["actedBy"]
                    for p in parties
                    if isinstance(p.decline, dict) and isinstance(p.decline.get("actedBy"), str)
                ],
            )
        )
    timeline = accountability_timeline(
        events, signatures, decisions, parties, {v.hash: v.seq for v in versions}
    )
    return await _page(
        request,
        "proposal.html",
        timeline=timeline,
        proposal=proposal,
        parties=parties,
        mediator=mediator,
        versions=ordered,
        pending=[v for v in versions if v.seq is None],
        current=current,
        signed=signed,
        comments=comments,
        comment_authors=comment_authors,
        events=events,
        actors=actors,
        label=lambda uri: _label(actors, uri),
        renews=renews,
        graph=graph,
        diff=diff,
        old=old,
        new=new,
        state_of=state_of,
        may_sign=may_sign,
        acted=acted,
        decisions=decisions,
        owners=owners,
        seq_of={v.hash: v.seq for v in versions},
        message=notices.text_of(request.query.get("notice")),
    )


def accountability_timeline(events, signatures, decisions, parties, seq_of: dict) -> list[dict]:
    """Everything that happened to a proposal, oldest first: lifecycle events, who signed or declined for
    each movement (and why, under which mandate), and the movements' internal decisions."""
    rows: list[dict] = []
    signed_by = {(s.signer_uri, s.version_hash): s for s in signatures}
    declined = {p.actor_uri: p.decline for p in parties if isinstance(p.decline, dict)}
    for e in events:
        row = {"at": e.created_at, "what": e.event, "actor": e.actor_uri, "to": e.to_state}
        row["changed"] = e.from_state != e.to_state
        if e.event in ("publish", "sign", "agree", "decline") and e.detail in seq_of:
            row["version"] = seq_of[e.detail]
        signature = signed_by.get((e.actor_uri, e.detail)) if e.event == "sign" else None
        if signature is not None:
            row |= {
                "by": signature.acted_by_uri,
                "reason": signature.reason,
                "mandate": signature.mandate_uri,
            }
        if e.event == "decline" and e.actor_uri in declined:
            decline = declined[e.actor_uri]
            source = decline.get("source") if isinstance(decline.get("source"), dict) else {}
            row |= {"by": decline.get("actedBy"), "reason": source.get("content")}
        rows.append(row)
    for d in decisions:
        opened = {"at": d.created_at, "what": "decision opened", "actor": d.created_by_uri, "decision": d}
        rows.append(opened | {"version": seq_of.get(d.version_hash)})
        if d.closed_at is not None:
            what = "decision reset by an amendment" if d.state == "void" else "decision closed"
            rows.append(
                {"at": d.closed_at, "what": what, "decision": d, "version": seq_of.get(d.version_hash)}
            )
    return sorted(rows, key=lambda r: r["at"])


def _hue(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode("utf-8")) % 360


async def _may_act(request: web.Request, parties: list[ProposalParty]) -> bool:
    """Whether the signed-in member may sign/decline for its movement (a party; role signatory or admin)."""
    _, member, movement = await _viewer(request)
    if member is None or movement is None or member.role not in ("signatory", "admin"):
        return False
    return any(p.actor_uri == movement.uri for p in parties)


# ---------------------------------------------------------------- agreement page


async def agreement_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    proposal = await _find(request, "agreements")
    if proposal.state not in AGREED or not proposal.agreement_canonical:
        if wants_json(request):
            raise not_found(request, "not an agreement (yet)")
        raise web.HTTPFound(proposal_path(proposal))
    if wants_json(request) or request.query.get("format") == "json":
        return web.Response(
            body=proposal.agreement_canonical.encode("utf-8"),
            content_type="application/activity+json",
            headers={"Vary": "Accept", "Access-Control-Allow-Origin": "*"},
        )
    document = agreement_document(proposal)
    async with fed.db.session() as session:
        report = await verify_known(session, document)
        members = await members_of(session, proposal)
        parties = [m for m in members if m.role == "party"]
        actors = await _actors(session, [m.actor_uri for m in members])
        chain = await _renewal_chain(session, proposal)
    withdrawn = {p.actor_uri: p for p in parties if p.withdrawn_at}
    nodes = []
    for check in report.parties:
        state = (
            "withdrawn"
            if check.party in withdrawn
            else ("signed" if check.status == VERIFIED else "declined")
        )
        nodes.append(Node(_label(actors, check.party), check.party, state, hue=_hue(check.party)))
    mediator = document.get("mediator") if isinstance(document.get("mediator"), str) else None
    center = Node(_label(actors, mediator), mediator, "mediator", hue=_hue(mediator)) if mediator else None
    graph = party_graph(nodes, center)
    translations = document.get("contentMap") or {}
    return await _page(
        request,
        "agreement.html",
        proposal=proposal,
        document=document,
        report=report,
        withdrawn=withdrawn,
        actors=actors,
        label=lambda uri: _label(actors, uri),
        graph=graph,
        chain=chain,
        translations=translations,
        export_url=proposal.agreement_uri,
        may_act=await _may_act(request, [p for p in parties if p.withdrawn_at is None]),
    )


async def _renewal_chain(session, proposal: Proposal) -> list[Proposal]:
    """Oldest first: the agreements this one renews, itself, and those that renewed it."""
    chain = [proposal]
    seen = {proposal.id}
    while chain[0].renews_uri:
        older = await agreement_by_uri(session, chain[0].renews_uri)
        if older is None or older.id in seen:
            break
        chain.insert(0, older)
        seen.add(older.id)
    while chain[-1].superseded_by_uri:
        newer = await agreement_by_uri(session, chain[-1].superseded_by_uri)
        if newer is None or newer.id in seen:
            break
        chain.append(newer)
        seen.add(newer.id)
    return chain


# ---------------------------------------------------------------- charter page


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or len(raw) > 6:
        raise not_found(request, "no such page of this charter")
    return int(raw)


def _charter_item(i) -> dict:
    return {
        "id": i.agreement_uri,
        "type": "Agreement",
        "name": i.title,
        "status": i.status,
        "version": i.agreed_version,
        "parties": i.parties,
        **({"renews": i.renews_uri} if i.renews_uri else {}),
        **({"supersededBy": i.superseded_by_uri} if i.superseded_by_uri else {}),
    }


def _charter_json(request: web.Request, movement: Actor, page: CharterPage, embedded: bool) -> web.Response:
    """The charter as a paged OrderedCollection: the collection embeds its first page; ?page=N is page N."""
    url = f"{movement.uri}/charter"
    document = {
        "id": f"{url}?page={page.number}",
        "type": "OrderedCollectionPage",
        "partOf": url,
        "totalItems": page.total,
        "orderedItems": [_charter_item(i) for i in page.items],
    }
    if page.number > 1:
        document["prev"] = f"{url}?page={page.number - 1}"
    if page.number < page.pages:
        document["next"] = f"{url}?page={page.number + 1}"
    if embedded:
        document = {
            "id": url,
            "type": "OrderedCollection",
            "attributedTo": movement.uri,
            "totalItems": page.total,
            "first": document,
            "last": f"{url}?page={page.pages}",
        }
    else:
        document["attributedTo"] = movement.uri
    return activity_json({"@context": [AS, CONTEXT_DOCUMENT["@context"]], **document}, request=request)


async def charter_page(request: web.Request) -> web.Response:
    fed = request.app[FED]
    name = request.match_info["name"]
    number = _page_number(request)
    async with fed.db.session() as session:
        movement = await local_movement(session, name)
        if movement is None:
            raise not_found(request, f"no movement called {name} here")
        page = await charter_page_of(session, movement.uri, number)
        if page is None:
            raise not_found(request, "no such page of this charter")
        if wants_json(request):
            return _charter_json(request, movement, page, embedded="page" not in request.query)
        open_proposals = (
            (
                await session.scalars(
                    select(Proposal)
                    .join(ProposalParty, ProposalParty.proposal_id == Proposal.id)
                    .where(ProposalParty.actor_uri == movement.uri, Proposal.state == "open")
                    .order_by(Proposal.created_at.desc())
                    .limit(100)
                )
            ).all()
            if number == 1
            else []
        )
        named = {u for i in page.items for u in i.parties} | {u for u, _ in page.partners}
        actors = await _actors(session, named)
    own_name = movement.name or movement.username

    def link(uri: str | None):
        found = page.titles.get(uri) if uri else None
        return (agreement_path(found), found.title) if found else ((uri, None) if uri else None)

    groups: dict[str, list[dict]] = {g: [] for g in GROUPS}
    for i in page.items:
        others = [u for u in i.parties if u != movement.uri]
        groups[i.status].append(
            {
                "href": agreement_path(i),
                "title": i.title,
                "partners": [(u, _label(actors, u)) for u in others[:6]],
                "more": max(0, len(others) - 6),
                "renews": link(i.renews_uri),
                "renewed_by": link(i.superseded_by_uri),
                "withdrew": i.withdrawn_at.strftime("%Y-%m-%d") if i.withdrawn_at else None,
                "agreed": i.agreed_at.strftime("%Y-%m-%d") if i.agreed_at else "",
                "until": i.end_time.strftime("%Y-%m-%d") if i.end_time else None,
                "version": (i.agreed_version or "")[:10],
            }
        )
    nodes = [
        Node(_label(actors, uri), uri, "signed", hue=_hue(uri), title=f"{count} agreement(s) in force")
        for uri, count in page.partners
    ]
    center = Node(own_name, movement.uri, "center", hue=_hue(movement.uri))
    return await _page(
        request,
        "charter.html",
        movement=movement,
        groups=groups,
        page=page,
        graph=party_graph(nodes, center, mesh=False),
        open_proposals=open_proposals,
        own_name=own_name,
    )


# ---------------------------------------------------------------- forms


async def act(request: web.Request) -> web.Response:
    """Sign, decline, withdraw (after the confirmation page), amend or comment from the proposal page
    (signed-in members; no JavaScript)."""
    fed = request.app[FED]
    form = await request.post()
    await sessions.check_csrf(request, form)
    _, member, movement = await _viewer(request)
    action = request.match_info["action"]
    async with fed.db.session() as session:
        proposal = await session.get(Proposal, int(request.match_info["id"]))
    if proposal is None:
        raise web.HTTPNotFound(text="no such proposal")
    back = proposal_path(proposal)
    if member is None:
        raise web.HTTPSeeOther(f"/login?next={back}")
    if action in ("sign", "decline", "amend", "withdraw", "leave") and (
        movement is None or member.role not in ("signatory", "admin")
    ):
        raise web.HTTPSeeOther(f"{back}?notice=not-signatory")
    if action in ("sign", "decline", "withdraw", "leave") and form.get("confirm") != "yes":
        raise web.HTTPSeeOther(f"/proposals/{proposal.id}/{action}")
    reason = str(form.get("reason") or "").strip()[:5000] or None
    version_read = str(form.get("version") or "") or None
    try:
        async with fed.db.session() as session:
            found = await session.get(Proposal, proposal.id)
            acting_movement = await session.get(Actor, movement.id) if movement else None
            acting_member = await session.get(Actor, member.id)
            if action == "sign":
                await sign(session, fed, acting_movement, found, acting_member, reason, version_read)
            elif action == "decline":
                await decline(session, fed, acting_movement, found, reason, acting_member, version_read)
            elif action in ("withdraw", "leave"):
                if action == "leave" and found.agreed_version is None:
                    raise Refusal(409, "the proposal has not been agreed; its author withdraws it instead")
                await withdraw(session, fed, acting_movement, found, from_agreement=action == "leave")
            elif action == "amend":
                text = str(form.get("text") or "")
                if not text.strip():
                    raise Refusal(400, "the amended text is empty")
                await amend(session, fed, acting_movement, found, text, str(form.get("title") or "") or None)
            elif action == "comment":
                text = str(form.get("text") or "")
                if not text.strip():
                    raise Refusal(400, "the comment is empty")
                await comment(session, fed, acting_member, found, text)
            else:
                raise web.HTTPNotFound(text="no such action")
    except Refusal as error:
        raise web.HTTPSeeOther(f"{back}?notice={notices.code_for(error.message)}") from None
    fed.deliveries_queued.set()
    raise web.HTTPSeeOther(back + ("#discussion" if action == "comment" else ""))


def setup(app: web.Application) -> None:
    app.router.add_get(CONTEXT_PATH, context)
    app.router.add_get("/proposals/r/{id:\\d+}", proposal_page)
    app.router.add_get("/agreements/r/{id:\\d+}", agreement_page)
    app.router.add_get("/proposals/{key}", proposal_page)
    app.router.add_get("/agreements/{key}", agreement_page)
    app.router.add_get("/actors/{name}/charter", charter_page)
    app.router.add_post("/proposals/{id:\\d+}/{action}", act)
