"""Proposals, versions, signatures and agreements: documents, the lifecycle, and what local movements do.

Shapes (docs/federation.md): a `Proposal` (origin-owned, mutable) holds immutable versions; each version
is an `Agreement` document named by the SHA-256 of its JCS form. Parties sign a version with an
eddsa-jcs-2022 proof (sent as `Accept`), decline it (`Reject`), withdraw (`Leave`, signed); amendments
are `Offer`ed to the origin, which orders them and sends `Update{Proposal}`. Every change of state,
local or remote, goes through `transition()` and models.agreement.TRANSITIONS.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from federation.actors import ActorError, get_actor
from federation.content import markdown_to_html, parse_time
from federation.context import Federation
from federation.outbox import follower_actors, iso, post_note, queue_deliveries, remote_inboxes, store_activity
from federation.keys import secret_for
from federation.proofs import add_proof, canonical, content_hash, make_proof, without_proof
from federation.notifications import notify_followers
from federation.vocabulary import AS, DATA_INTEGRITY, PUBLIC, as_list, host_of, id_of, object_link
from models import Activity, Actor, Key, utcnow
from models.agreement import (
    AGREED_STATES, Proposal, ProposalEvent, ProposalParty, ProposalSignature, ProposalVersion, State,
    TransitionError, allows, next_state,
)

log = logging.getLogger(__name__)

CONTEXT_PATH = "/ns/agreements/v1"
NAMESPACE = "https://codeberg.org/interpeople/ns#"
MAX_PARTIES = 2000

CONTEXT_DOCUMENT = {
    "@context": {
        "@version": 1.1,
        "ip": NAMESPACE,
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "Proposal": "ip:Proposal",
        "Agreement": "ip:Agreement",
        "parties": {"@id": "ip:parties", "@type": "@id", "@container": "@list"},
        "mediator": {"@id": "ip:mediator", "@type": "@id"},
        "proposal": {"@id": "ip:proposal", "@type": "@id"},
        "agreement": {"@id": "ip:agreement", "@type": "@id"},
        "version": "ip:version",
        "versions": {"@id": "ip:versions", "@container": "@list"},
        "currentVersion": "ip:currentVersion",
        "previousVersion": "ip:previousVersion",
        "versionAuthor": {"@id": "ip:versionAuthor", "@type": "@id"},
        "renews": {"@id": "ip:renews", "@type": "@id"},
        "supersededBy": {"@id": "ip:supersededBy", "@type": "@id"},
        "status": "ip:status",
        "declines": {"@id": "ip:declines", "@container": "@set"},
        "withdrawals": {"@id": "ip:withdrawals", "@container": "@set"},
    }
}


class AgreementError(Refusal):
    """An action or activity refused; `status` is the HTTP answer for a remote sender."""


def refused(error: TransitionError) -> AgreementError:
    return AgreementError(409, str(error))


def context_url(base: str) -> str:
    return base.rstrip("/") + CONTEXT_PATH


def document_context(base: str) -> list:
    return [AS, DATA_INTEGRITY, context_url(base)]


# ---------------------------------------------------------------- lookups


async def proposal_by_uri(session: AsyncSession, uri: str) -> Proposal | None:
    """A proposal by its own URL or by its agreement's URL (with or without a trailing page suffix)."""
    uri = uri.strip()
    return await session.scalar(select(Proposal).where((Proposal.uri == uri) | (Proposal.agreement_uri == uri)))


async def members_of(session: AsyncSession, proposal: Proposal) -> list[ProposalParty]:
    """Parties (in their order) and the mediator (last)."""
    return list((await session.scalars(select(ProposalParty).where(ProposalParty.proposal_id == proposal.id)
                                       .order_by(ProposalParty.role.desc(), ProposalParty.position))).all())


async def parties_of(session: AsyncSession, proposal: Proposal) -> list[ProposalParty]:
    return [p for p in await members_of(session, proposal) if p.role == "party"]


async def party_row(session: AsyncSession, proposal: Proposal, actor_uri: str, role: str = "party") -> ProposalParty | None:
    return await session.scalar(select(ProposalParty).where(
        ProposalParty.proposal_id == proposal.id, ProposalParty.actor_uri == actor_uri, ProposalParty.role == role))


async def versions_of(session: AsyncSession, proposal: Proposal) -> list[ProposalVersion]:
    """Ordered versions (those the origin has not ordered yet come last)."""
    rows = (await session.scalars(select(ProposalVersion).where(ProposalVersion.proposal_id == proposal.id)
                                  .order_by(ProposalVersion.id))).all()
    return sorted(rows, key=lambda v: (v.seq is None, v.seq or 0, v.id))


async def version_of(session: AsyncSession, proposal: Proposal, version_hash: str | None) -> ProposalVersion | None:
    if not version_hash:
        return None
    return await session.scalar(select(ProposalVersion).where(
        ProposalVersion.proposal_id == proposal.id, ProposalVersion.hash == version_hash))


async def signatures_of(session: AsyncSession, proposal: Proposal) -> list[ProposalSignature]:
    return list((await session.scalars(select(ProposalSignature).where(ProposalSignature.proposal_id == proposal.id)
                                       .order_by(ProposalSignature.id))).all())


async def signature_of(session, proposal: Proposal, version_hash: str, signer: str) -> ProposalSignature | None:
    return await session.scalar(select(ProposalSignature).where(
        ProposalSignature.proposal_id == proposal.id, ProposalSignature.version_hash == version_hash,
        ProposalSignature.signer_uri == signer))


# ---------------------------------------------------------------- lifecycle (the one place states change)


async def transition(session: AsyncSession, proposal: Proposal, event: str, actor_uri: str | None = None,
                     detail: str | None = None) -> State:
    """Applies event through the TRANSITIONS table and logs it; TransitionError when not allowed."""
    new = next_state(proposal.state, event)
    session.add(ProposalEvent(proposal_id=proposal.id, event=event, from_state=proposal.state, to_state=new.value,
                              actor_uri=actor_uri, detail=detail))
    proposal.state = new.value
    proposal.updated_at = utcnow()
    await session.flush()
    return new


async def refresh_expiry(session: AsyncSession, proposal: Proposal, now: dt.datetime | None = None) -> bool:
    """Expires a proposal or agreement whose endTime has passed; True when it did."""
    now = now or utcnow()
    if proposal.end_time is not None and proposal.end_time <= now and allows(proposal.state, "expire"):
        await transition(session, proposal, "expire", detail=f"endTime {iso(proposal.end_time)} passed")
        return True
    return False


async def expire_due(session: AsyncSession) -> int:
    due = (await session.scalars(select(Proposal).where(
        Proposal.end_time <= utcnow(),
        Proposal.state.in_([State.draft.value, State.open.value, State.agreed.value])))).all()
    for proposal in due:
        await refresh_expiry(session, proposal)
    return len(due)


async def add_version(session: AsyncSession, proposal: Proposal, document: dict, seq: int | None,
                      author_uri: str) -> ProposalVersion:
    document = without_proof(document)
    text = canonical(document)
    version = ProposalVersion(proposal_id=proposal.id, hash=hashlib.sha256(text).hexdigest(), seq=seq,
                              author_uri=author_uri, document=document, canonical=text.decode("utf-8"))
    session.add(version)
    await session.flush()
    return version


async def _check_party(session, proposal: Proposal, actor_uri: str) -> ProposalParty:
    party = await party_row(session, proposal, actor_uri)
    if party is None:
        raise AgreementError(403, f"{actor_uri} is not a party to {proposal.uri}")
    return party


async def record_signature(session: AsyncSession, proposal: Proposal, version_hash: str, signer: str,
                           proof: dict) -> bool:
    """A verified proof by signer over a version: counts only on the current version of an open proposal."""
    await refresh_expiry(session, proposal)
    party = await _check_party(session, proposal, signer)
    if await signature_of(session, proposal, version_hash, signer) is not None:
        return False
    if party.withdrawn_at is not None:
        raise AgreementError(409, f"{signer} withdrew from {proposal.uri}")
    try:
        next_state(proposal.state, "sign")
    except TransitionError as error:
        raise refused(error) from None
    if await version_of(session, proposal, version_hash) is None:
        raise AgreementError(409, f"the proof is over a version {proposal.uri} does not have ({version_hash[:12]}…)")
    if version_hash != proposal.current_version:
        raise AgreementError(409, f"the proof is over version {version_hash[:12]}…, but the current version is "
                                  f"{(proposal.current_version or '')[:12]}…; signatures on another version do not count")
    await transition(session, proposal, "sign", signer, detail=version_hash)
    session.add(ProposalSignature(proposal_id=proposal.id, version_hash=version_hash, signer_uri=signer, proof=proof))
    await session.flush()
    await maybe_agree(session, proposal)
    return True


async def record_past_signature(session, proposal: Proposal, version_hash: str, signer: str, proof: dict) -> None:
    """A verified proof the origin reports on an older version: kept for the record, changes no state."""
    await _check_party(session, proposal, signer)
    if await version_of(session, proposal, version_hash) is None:
        raise AgreementError(409, f"the proof is over a version {proposal.uri} does not have")
    if await signature_of(session, proposal, version_hash, signer) is None:
        session.add(ProposalSignature(proposal_id=proposal.id, version_hash=version_hash, signer_uri=signer,
                                      proof=proof))
        await session.flush()


async def maybe_agree(session: AsyncSession, proposal: Proposal) -> bool:
    """When every party has signed the current version, it becomes the agreement in force."""
    if proposal.state != State.open.value or not proposal.current_version:
        return False
    parties = await parties_of(session, proposal)
    proofs = {s.signer_uri: s.proof for s in await signatures_of(session, proposal)
              if s.version_hash == proposal.current_version}
    if not parties or any(p.actor_uri not in proofs for p in parties):
        return False
    version = await version_of(session, proposal, proposal.current_version)
    document = {**version.document, "proof": [proofs[p.actor_uri] for p in parties]}
    proposal.agreement_canonical = canonical(document).decode("utf-8")
    proposal.agreed_version = proposal.current_version
    proposal.agreed_at = utcnow()
    await transition(session, proposal, "agree", detail=proposal.current_version)
    if proposal.renews_uri:
        old = await session.scalar(select(Proposal).where(Proposal.agreement_uri == proposal.renews_uri))
        if old is not None:
            old.superseded_by_uri = proposal.agreement_uri
            if allows(old.state, "supersede"):
                await transition(session, old, "supersede", detail=proposal.agreement_uri)
    return True


async def record_decline(session: AsyncSession, proposal: Proposal, actor_uri: str, version_hash: str | None,
                         activity: dict) -> bool:
    await refresh_expiry(session, proposal)
    party = await _check_party(session, proposal, actor_uri)
    if party.declined_at is not None:
        return False
    if version_hash and version_hash != proposal.current_version:
        raise AgreementError(409, "the decline is about another version than the current one")
    try:
        await transition(session, proposal, "decline", actor_uri, detail=version_hash)
    except TransitionError as error:
        raise refused(error) from None
    party.declined_at = parse_time(activity.get("published")) or utcnow()
    party.decline = activity
    await session.flush()
    return True


async def record_withdrawal(session: AsyncSession, proposal: Proposal, actor_uri: str, activity: dict) -> bool:
    """A signed Leave: of the proposal by its author (before agreement), or of the agreement by a party."""
    await refresh_expiry(session, proposal)
    target = id_of(activity.get("object"))
    when = parse_time(activity.get("published")) or utcnow()
    if target == proposal.uri:
        if actor_uri != proposal.author_uri:
            raise AgreementError(403, "only the author may withdraw a proposal; parties decline it")
        if proposal.state == State.withdrawn_by_author.value:
            return False
        try:
            await transition(session, proposal, "withdraw", actor_uri)
        except TransitionError as error:
            raise refused(error) from None
        party = await party_row(session, proposal, actor_uri)
        party.withdrawn_at, party.withdrawal = when, activity
        await session.flush()
        return True
    if target != proposal.agreement_uri:
        raise AgreementError(400, f"Leave names {target}, neither the proposal nor its agreement")
    party = await _check_party(session, proposal, actor_uri)
    if party.withdrawn_at is not None:
        return False
    try:
        await transition(session, proposal, "leave", actor_uri)
    except TransitionError as error:
        raise refused(error) from None
    party.withdrawn_at, party.withdrawal = when, activity
    await session.flush()
    remaining = [p for p in await parties_of(session, proposal) if p.withdrawn_at is None]
    if len(remaining) < 2:
        await transition(session, proposal, "dissolve", detail=f"{len(remaining)} party left")
    return True


# ---------------------------------------------------------------- documents


def version_document(*, context: list, agreement_uri: str, proposal_uri: str, author: str, version_author: str,
                     title: str, text: str, parties: list[str], mediator: str | None, start: dt.datetime | None,
                     end: dt.datetime | None, renews: str | None, previous: str | None, language: str | None = None,
                     translations: dict[str, str] | None = None) -> dict:
    """An immutable version: what parties sign. Its JCS form, hashed, is its name."""
    html = markdown_to_html(text)
    document = {
        "@context": context, "type": "Agreement", "id": agreement_uri, "proposal": proposal_uri,
        "attributedTo": author, "versionAuthor": version_author, "name": title,
        "content": html, "mediaType": "text/html", "source": {"content": text, "mediaType": "text/markdown"},
        "parties": list(parties), "published": iso(),
    }
    if language or translations:
        content_map = {language: html} if language else {}
        content_map.update({lang: markdown_to_html(body) for lang, body in (translations or {}).items()})
        document["contentMap"] = content_map
    optional = {"mediator": mediator, "startTime": iso(start) if start else None, "endTime": iso(end) if end else None,
                "renews": renews, "previousVersion": previous}
    document.update({k: v for k, v in optional.items() if v})
    return document


async def proposal_document(session: AsyncSession, fed: Federation, proposal: Proposal) -> dict:
    """The Proposal as its origin publishes it: every ordered version with its proofs, declines, withdrawals."""
    members = await members_of(session, proposal)
    parties = [m for m in members if m.role == "party"]
    position = {p.actor_uri: p.position for p in parties}
    proofs: dict[str, list[dict]] = {}
    for signature in sorted(await signatures_of(session, proposal), key=lambda s: position.get(s.signer_uri, 0)):
        proofs.setdefault(signature.version_hash, []).append(signature.proof)
    versions = [v for v in await versions_of(session, proposal) if v.seq is not None]
    current = next((v for v in versions if v.hash == proposal.current_version), versions[-1])
    author = await session.scalar(select(Actor).where(Actor.uri == proposal.author_uri))
    audience = [m.actor_uri for m in members if m.actor_uri != proposal.author_uri]
    document = {
        "@context": document_context(fed.urls.base), "id": proposal.uri, "type": "Proposal",
        "attributedTo": proposal.author_uri, "name": proposal.title, "content": current.document.get("content", ""),
        "url": proposal.uri, "agreement": proposal.agreement_uri, "parties": [p.actor_uri for p in parties],
        "status": proposal.state, "currentVersion": proposal.current_version,
        "versions": [{**v.document, "proof": proofs[v.hash]} if v.hash in proofs else v.document for v in versions],
        "declines": [p.decline for p in parties if p.decline],
        "withdrawals": [p.withdrawal for p in parties if p.withdrawal],
        "published": iso(proposal.created_at), "updated": iso(proposal.updated_at),
        "context": proposal.uri, "to": audience,
        "cc": [c for c in (author.followers_url if author else None, PUBLIC) if c],
    }
    optional = {"mediator": proposal.mediator_uri, "renews": proposal.renews_uri,
                "supersededBy": proposal.superseded_by_uri,
                "startTime": iso(proposal.start_time) if proposal.start_time else None,
                "endTime": iso(proposal.end_time) if proposal.end_time else None}
    document.update({k: v for k, v in optional.items() if v})
    return document


def agreement_document(proposal: Proposal) -> dict | None:
    """The signed agreement (the agreed version with one proof per party), as every party holds it."""
    return json.loads(proposal.agreement_canonical) if proposal.agreement_canonical else None


# ---------------------------------------------------------------- addressing and publishing


async def ensure_actors(fed: Federation, uris) -> dict[str, Actor]:
    """The actors behind URIs, fetched when unknown; the unreachable ones are left out (and logged)."""
    found: dict[str, Actor] = {}
    for uri in dict.fromkeys(u for u in uris if u):
        try:
            found[uri] = await get_actor(fed, uri)
        except ActorError as error:
            log.warning("cannot reach %s: %s", uri, error)
    return found


async def audience_uris(session: AsyncSession, proposal: Proposal) -> list[str]:
    """Parties, the mediator, and the parties of the agreement a renewal renews."""
    uris = [m.actor_uri for m in await members_of(session, proposal)]
    if proposal.renews_uri:
        old = await session.scalar(select(Proposal).where(Proposal.agreement_uri == proposal.renews_uri))
        if old is not None:
            uris += [m.actor_uri for m in await members_of(session, old)]
    return list(dict.fromkeys(uris))


async def _send(session: AsyncSession, proposal: Proposal, actor: Actor, document: dict,
                only: list[str] | None = None, audience: list[str] | None = None) -> Activity:
    """Stores an activity and queues it for the audience (or only the given actors) and the actor's followers.
    `audience` is the proposal's audience when the caller has already looked it up."""
    activity = await store_activity(session, actor, document)
    uris = only if only is not None else audience if audience is not None else await audience_uris(session, proposal)
    actors = list((await session.scalars(select(Actor).where(Actor.uri.in_(uris)))).all()) if uris else []
    if only is None:
        actors += await follower_actors(session, actor.id)
    await queue_deliveries(session, activity, actor, remote_inboxes(actors))
    return activity


def _activity(fed: Federation, proposal_context: list, type_: str, actor: Actor, obj, **fields) -> dict:
    return {"@context": proposal_context, "id": fed.urls.new_activity(), "type": type_, "actor": actor.uri,
            "object": obj, "published": iso(), **fields}


async def publish_proposal(session: AsyncSession, fed: Federation, proposal: Proposal, type_: str = "Update") -> Activity:
    """The origin tells everyone concerned the proposal's whole state (Create at first, then Update)."""
    author = await session.scalar(select(Actor).where(Actor.uri == proposal.author_uri, Actor.local.is_(True)))
    document = await proposal_document(session, fed, proposal)
    activity = {"@context": document["@context"], "id": fed.urls.new_activity(), "type": type_,
                "actor": author.uri, "object": document, "published": iso(),
                "to": document["to"], "cc": document["cc"]}
    return await _send(session, proposal, author, activity)


async def ed25519_secret(session: AsyncSession, actor: Actor):
    key = await session.scalar(select(Key).where(Key.actor_id == actor.id, Key.kind == "ed25519",
                                                 Key.private.is_not(None)).order_by(Key.id.desc()).limit(1))
    if key is None:
        raise AgreementError(500, f"{actor.username} has no Ed25519 key")
    secret = secret_for(key.uri, key.private, "ed25519")  # parsed once per key, not per signature
    return secret.key_id, secret.private_key


async def signed(session: AsyncSession, actor: Actor, document: dict) -> dict:
    """The document with the actor's eddsa-jcs-2022 proof."""
    method, private = await ed25519_secret(session, actor)
    return add_proof(document, make_proof(document, private, method))


def page_link(proposal: Proposal) -> str:
    return proposal.agreement_uri if proposal.state in {s.value for s in AGREED_STATES} else proposal.uri


async def tell_followers(session: AsyncSession, fed: Federation, actor: Actor, text: str, about: str) -> None:
    """A plain Note for followers (Mastodon renders Notes in full, not custom types), linking the proposal or
    agreement it is about; the movement's local followers get a `status` notification of it."""
    note, _ = await post_note(session, fed, actor, text, tags=[object_link(about)])
    await notify_followers(session, actor.id, note.id)


def _name(actor: Actor | None, uri: str) -> str:
    return (actor.name or actor.username) if actor else uri


async def _names(session: AsyncSession, uris: list[str]) -> list[str]:
    known = {a.uri: a for a in (await session.scalars(select(Actor).where(Actor.uri.in_(uris)))).all()} if uris else {}
    return [_name(known.get(u), u) for u in uris]


# ---------------------------------------------------------------- what local movements do


def _check_movement(actor: Actor) -> None:
    if not actor.local or actor.type != "Group" or actor.movement_id is not None:
        raise AgreementError(400, f"{actor.username} is not a local movement")


async def create_proposal(
    session: AsyncSession, fed: Federation, author: Actor, title: str, text: str, parties: list[Actor],
    mediator: Actor | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None,
    renews: str | None = None, language: str | None = None, translations: dict[str, str] | None = None,
) -> Proposal:
    """A new proposal by a local movement to other movements; published at once (draft → open)."""
    _check_movement(author)
    party_uris = list(dict.fromkeys([author.uri] + [p.uri for p in parties]))
    if len(party_uris) < 2:
        raise AgreementError(400, "a proposal needs at least one other party")
    if len(party_uris) > MAX_PARTIES:
        raise AgreementError(400, f"at most {MAX_PARTIES} parties")
    for actor in parties + ([mediator] if mediator else []):
        if actor.type != "Group":
            raise AgreementError(400, f"{actor.handle} is not a movement (it is a {actor.type})")
    if mediator is not None and mediator.uri in party_uris:
        raise AgreementError(400, "the mediator cannot also be a party")
    if end is not None and end <= utcnow():
        raise AgreementError(400, "the end date is already past")
    if start and end and start >= end:
        raise AgreementError(400, "the agreement must start before it ends")
    if renews:
        old = await session.scalar(select(Proposal).where(Proposal.agreement_uri == renews))
        if old is None or old.agreed_version is None:
            raise AgreementError(404, f"this instance knows no agreement {renews}")
        if await party_row(session, old, author.uri) is None:
            raise AgreementError(403, f"{author.username} is not a party to {renews}")
    key = str(uuid.uuid4())
    proposal_uri, agreement_uri = f"{fed.urls.base}/proposals/{key}", f"{fed.urls.base}/agreements/{key}"
    proposal = Proposal(uri=proposal_uri, agreement_uri=agreement_uri, local=True, author_uri=author.uri, title=title,
                        state=State.draft.value, mediator_uri=mediator.uri if mediator else None, renews_uri=renews,
                        start_time=start, end_time=end)
    session.add(proposal)
    await session.flush()
    for position, uri in enumerate(party_uris):
        session.add(ProposalParty(proposal_id=proposal.id, actor_uri=uri, role="party", position=position))
    if mediator is not None:
        session.add(ProposalParty(proposal_id=proposal.id, actor_uri=mediator.uri, role="mediator", position=0))
    document = version_document(
        context=document_context(fed.urls.base), agreement_uri=agreement_uri, proposal_uri=proposal_uri,
        author=author.uri, version_author=author.uri, title=title, text=text, parties=party_uris,
        mediator=mediator.uri if mediator else None, start=start, end=end, renews=renews, previous=None,
        language=language, translations=translations)
    version = await add_version(session, proposal, document, 1, author.uri)
    proposal.current_version = version.hash
    await transition(session, proposal, "publish", author.uri, detail=version.hash)
    await publish_proposal(session, fed, proposal, "Create")
    others = await _names(session, party_uris[1:])
    verb = "proposes to renew an agreement" if renews else "proposes an agreement"
    await tell_followers(session, fed, author, f"**{_name(author, author.uri)}** {verb} with {', '.join(others)}: "
                         f"[{title}]({proposal_uri}). Read it, follow the discussion and see who signs.", proposal_uri)
    return proposal


async def _acting_member(session, proposal: Proposal, actor: Actor) -> str:
    _check_movement(actor)
    if await party_row(session, proposal, actor.uri) is not None:
        return "party"
    if await party_row(session, proposal, actor.uri, "mediator") is not None:
        return "mediator"
    raise AgreementError(403, f"{actor.username} is neither a party nor the mediator of {proposal.uri}")


async def accept_amendment(session: AsyncSession, fed: Federation, proposal: Proposal, document: dict,
                           amender: str) -> ProposalVersion:
    """The origin orders an amendment by a party or the mediator: it becomes the current version."""
    await refresh_expiry(session, proposal)
    if await party_row(session, proposal, amender) is None and await party_row(session, proposal, amender, "mediator") is None:
        raise AgreementError(403, f"{amender} is neither a party nor the mediator")
    current = await version_of(session, proposal, proposal.current_version)
    fixed = ("@context", "type", "id", "proposal", "attributedTo", "parties", "mediator", "renews")
    if any(document.get(k) != current.document.get(k) for k in fixed):
        raise AgreementError(400, "an amendment changes the text, title or dates only, not the parties or ids")
    if document.get("versionAuthor") != amender:
        raise AgreementError(403, "versionAuthor must be the amending actor")
    if document.get("previousVersion") != proposal.current_version:
        raise AgreementError(409, "the amendment is based on an older version; amend the current one")
    try:
        await transition(session, proposal, "amend", amender)
    except TransitionError as error:
        raise refused(error) from None
    version = await version_of(session, proposal, content_hash(document))
    if version is None:
        last = await session.scalar(select(func.max(ProposalVersion.seq)).where(ProposalVersion.proposal_id == proposal.id))
        version = await add_version(session, proposal, document, (last or 0) + 1, amender)
    proposal.current_version = version.hash
    proposal.title = document.get("name") or proposal.title
    proposal.end_time = parse_time(document.get("endTime"))
    proposal.start_time = parse_time(document.get("startTime"))
    await session.flush()
    return version


async def amend(session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal, text: str,
                title: str | None = None, translations: dict[str, str] | None = None,
                language: str | None = None) -> tuple[ProposalVersion, Activity | None]:
    """A new version by a party or the mediator; ordered at once on the origin, else Offered to it."""
    await _acting_member(session, proposal, actor)
    await refresh_expiry(session, proposal)
    if not allows(proposal.state, "amend"):
        raise refused(TransitionError(proposal.state, "amend"))
    current = await version_of(session, proposal, proposal.current_version)
    base = {k: v for k, v in current.document.items() if k not in ("contentMap",)}
    html = markdown_to_html(text)
    document = {**base, "name": title or base["name"], "content": html,
                "source": {"content": text, "mediaType": "text/markdown"}, "versionAuthor": actor.uri,
                "previousVersion": current.hash, "published": iso()}
    if language or translations:
        document["contentMap"] = ({language: html} if language else {}) | {
            lang: markdown_to_html(body) for lang, body in (translations or {}).items()}
    if proposal.local:
        version = await accept_amendment(session, fed, proposal, document, actor.uri)
        await publish_proposal(session, fed, proposal)
        return version, None
    version = await version_of(session, proposal, content_hash(document)) or \
        await add_version(session, proposal, document, None, actor.uri)
    offer = _activity(fed, document["@context"], "Offer", actor, document, target=proposal.uri,
                      to=[proposal.author_uri], context=proposal.uri)
    activity = await _send(session, proposal, actor, offer, only=[proposal.author_uri])
    return version, activity


async def sign(session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal) -> Activity:
    """The movement signs the current version: its proof goes to everyone as Accept."""
    _check_movement(actor)
    await refresh_expiry(session, proposal)
    version = await version_of(session, proposal, proposal.current_version)
    if await signature_of(session, proposal, version.hash, actor.uri) is not None:
        raise AgreementError(409, f"{actor.username} has already signed this version")
    method, private = await ed25519_secret(session, actor)
    proof = make_proof(version.document, private, method, digest=bytes.fromhex(version.hash))
    await record_signature(session, proposal, version.hash, actor.uri, proof)
    document = add_proof(version.document, proof)
    audience = await audience_uris(session, proposal)
    accept = _activity(fed, version.document["@context"], "Accept", actor, document, version=version.hash,
                       context=proposal.uri, to=[u for u in audience if u != actor.uri],
                       cc=[actor.followers_url, PUBLIC])
    activity = await _send(session, proposal, actor, accept, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    in_force = proposal.state == State.agreed.value
    await tell_followers(session, fed, actor, f"**{_name(actor, actor.uri)}** signed [{proposal.title}]"
                         f"({page_link(proposal)})." + (" Every party has signed: the agreement is in force." if in_force else ""),
                         page_link(proposal))
    return activity


async def decline(session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal,
                  reason: str | None = None) -> Activity:
    _check_movement(actor)
    version = await version_of(session, proposal, proposal.current_version)
    audience = await audience_uris(session, proposal)
    reject = _activity(fed, version.document["@context"], "Reject", actor, version.document, version=version.hash,
                       context=proposal.uri, to=[u for u in audience if u != actor.uri],
                       cc=[actor.followers_url, PUBLIC], **({"content": reason} if reason else {}))
    reject = await signed(session, actor, reject)
    await record_decline(session, proposal, actor.uri, version.hash, reject)
    activity = await _send(session, proposal, actor, reject, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    return activity


async def withdraw(session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal,
                   from_agreement: bool) -> Activity:
    """A signed Leave: the author withdraws its proposal, or a party withdraws from the agreement."""
    _check_movement(actor)
    await refresh_expiry(session, proposal)
    target = proposal.agreement_uri if from_agreement else proposal.uri
    context = (await version_of(session, proposal, proposal.current_version)).document["@context"]
    audience = await audience_uris(session, proposal)
    leave = _activity(fed, context, "Leave", actor, target, context=proposal.uri,
                      version=proposal.agreed_version or proposal.current_version,
                      to=[u for u in audience if u != actor.uri], cc=[actor.followers_url, PUBLIC])
    leave = await signed(session, actor, leave)
    await record_withdrawal(session, proposal, actor.uri, leave)
    activity = await _send(session, proposal, actor, leave, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    what = "the agreement" if from_agreement else "its proposal"
    await tell_followers(session, fed, actor, f"**{_name(actor, actor.uri)}** withdrew from {what} "
                         f"[{proposal.title}]({page_link(proposal)}).", page_link(proposal))
    return activity


async def comment(session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal, text: str,
                  in_reply_to: str | None = None):
    """A Note in the proposal's discussion, addressed to every party and the mediator."""
    uris = await audience_uris(session, proposal)
    others = list((await session.scalars(select(Actor).where(Actor.uri.in_(uris), Actor.id != actor.id))).all())
    obj, _ = await post_note(session, fed, actor, text, others, in_reply_to=in_reply_to or proposal.uri,
                             extra={"context": proposal.uri})
    obj.context = proposal.uri
    return obj


# ---------------------------------------------------------------- what the origin sends, as others receive it


def _check_version_shape(document: dict, proposal: Proposal, parties: list[str]) -> None:
    if document.get("type") != "Agreement" or document.get("id") != proposal.agreement_uri \
            or document.get("proposal") != proposal.uri or document.get("attributedTo") != proposal.author_uri:
        raise AgreementError(400, "a version must be an Agreement naming this proposal, its agreement id and author")
    if as_list(document.get("parties")) != parties or document.get("mediator") != proposal.mediator_uri:
        raise AgreementError(400, "a version names other parties than its proposal")


async def apply_origin_document(session: AsyncSession, document: dict, actor_uri: str,
                                verified: dict[str, str | None]) -> Proposal:
    """Brings this instance's copy of a remote proposal up to its origin's document.

    `verified` maps each proofValue to the controller whose published key verified it (None: it did not).
    Every proof is checked before anything is accepted; states change only through transition().
    """
    uri, agreement_uri = document.get("id"), document.get("agreement")
    versions = [v for v in as_list(document.get("versions")) if isinstance(v, dict)]
    parties = [p for p in as_list(document.get("parties")) if isinstance(p, str)]
    if not isinstance(uri, str) or not isinstance(agreement_uri, str) or not versions or len(parties) < 2:
        raise AgreementError(400, "a Proposal needs an id, an agreement id, parties and versions")
    if document.get("attributedTo") != actor_uri or host_of(uri) != host_of(actor_uri) \
            or host_of(agreement_uri) != host_of(actor_uri):
        raise AgreementError(403, f"only the origin instance of {uri} may publish or update it")
    if len(parties) > MAX_PARTIES:
        raise AgreementError(413, "too many parties")
    proposal = await proposal_by_uri(session, uri)
    if proposal is None:
        proposal = Proposal(uri=uri, agreement_uri=agreement_uri, local=False, author_uri=actor_uri,
                            title=str(document.get("name") or "")[:2000], state=State.draft.value,
                            mediator_uri=id_of(document.get("mediator")), renews_uri=id_of(document.get("renews")),
                            start_time=parse_time(document.get("startTime")), end_time=parse_time(document.get("endTime")))
        session.add(proposal)
        await session.flush()
        for position, party in enumerate(parties):
            session.add(ProposalParty(proposal_id=proposal.id, actor_uri=party, role="party", position=position))
        if proposal.mediator_uri:
            session.add(ProposalParty(proposal_id=proposal.id, actor_uri=proposal.mediator_uri, role="mediator"))
        await session.flush()
    elif proposal.local or proposal.author_uri != actor_uri or proposal.agreement_uri != agreement_uri:
        raise AgreementError(403, f"only the origin instance of {uri} may update it")
    known_parties = [p.actor_uri for p in await parties_of(session, proposal)]
    if parties != known_parties:
        raise AgreementError(409, "the origin changed the parties of a proposal")
    hashes: list[str] = []
    for seq, version_document_ in enumerate(versions, 1):
        _check_version_shape(version_document_, proposal, known_parties)
        version_hash = content_hash(version_document_)
        hashes.append(version_hash)
        stored = await version_of(session, proposal, version_hash)
        if stored is None:
            clash = await session.scalar(select(ProposalVersion.id).where(
                ProposalVersion.proposal_id == proposal.id, ProposalVersion.seq == seq))
            if clash is not None:
                raise AgreementError(409, f"the origin rewrote version {seq}; versions are immutable")
            await add_version(session, proposal, version_document_, seq,
                              id_of(version_document_.get("versionAuthor")) or actor_uri)
        elif stored.seq is None:
            stored.seq = seq
    # every proof is checked before any state changes
    for version_document_ in versions:
        for proof in as_list(version_document_.get("proof")):
            _verified_signer(proof, verified)
    if proposal.state == State.draft.value:
        await transition(session, proposal, "publish", actor_uri, detail=hashes[0])
    if proposal.current_version != hashes[-1]:
        if proposal.current_version is not None:
            try:
                await transition(session, proposal, "amend", id_of(versions[-1].get("versionAuthor")))
            except TransitionError as error:
                raise refused(error) from None
        proposal.current_version = hashes[-1]
        proposal.title = str(versions[-1].get("name") or proposal.title)[:2000]
        proposal.end_time = parse_time(versions[-1].get("endTime"))
        proposal.start_time = parse_time(versions[-1].get("startTime"))
        await session.flush()
    for version_hash, version_document_ in zip(hashes, versions):
        for proof in as_list(version_document_.get("proof")):
            signer = _verified_signer(proof, verified)
            if await signature_of(session, proposal, version_hash, signer) is not None:
                continue
            if version_hash == proposal.current_version and proposal.state == State.open.value:
                await record_signature(session, proposal, version_hash, signer, proof)
            else:
                await record_past_signature(session, proposal, version_hash, signer, proof)
    for decline_ in as_list(document.get("declines")):
        signer = _carried_signer(decline_, verified)
        await _tolerate_conflict(record_decline(session, proposal, signer, decline_.get("version"), decline_))
    await maybe_agree(session, proposal)
    for leave in as_list(document.get("withdrawals")):
        signer = _carried_signer(leave, verified)
        await _tolerate_conflict(record_withdrawal(session, proposal, signer, leave))
    await refresh_expiry(session, proposal)
    return proposal


async def _tolerate_conflict(step) -> None:
    """A carried decline or withdrawal that no longer applies here (say, after expiry) is skipped, not fatal."""
    try:
        await step
    except AgreementError as error:
        if error.status != 409:
            raise
        log.info("skipping a carried activity: %s", error.message)


def _verified_signer(proof, verified: dict[str, str | None]) -> str:
    value = proof.get("proofValue") if isinstance(proof, dict) else None
    signer = verified.get(value) if isinstance(value, str) else None
    if signer is None:
        raise AgreementError(403, "a proof does not verify against its signer's published key")
    return signer


def _carried_signer(activity, verified: dict[str, str | None]) -> str:
    """The actor of a signed activity the origin passes on, once its own proof is verified."""
    if not isinstance(activity, dict):
        raise AgreementError(400, "a carried activity must be an object")
    proofs = as_list(activity.get("proof"))
    if len(proofs) != 1:
        raise AgreementError(403, "a carried activity must carry its actor's proof")
    signer = _verified_signer(proofs[0], verified)
    if signer != id_of(activity.get("actor")):
        raise AgreementError(403, "a carried activity is signed by someone other than its actor")
    return signer


# ---------------------------------------------------------------- charter


def charter_status(state: str, withdrawn_at) -> str:
    """in_force / withdrawn / expired / superseded, as one party stands (it may have withdrawn itself)."""
    if withdrawn_at is not None or state == State.withdrawn_by_party.value:
        return "withdrawn"
    if state == State.superseded.value:
        return "superseded"
    if state == State.expired.value:
        return "expired"
    return "in_force"


CHARTER_COLUMNS = (Proposal.id, Proposal.uri, Proposal.agreement_uri, Proposal.local, Proposal.title, Proposal.state,
                   Proposal.agreed_version, Proposal.renews_uri, Proposal.superseded_by_uri, Proposal.agreed_at,
                   Proposal.start_time, Proposal.end_time)


async def charter(session: AsyncSession, movement_uri: str) -> list:
    """Every agreement the movement is party to, newest first, as light rows (the columns above, the
    movement's `withdrawn_at`, `status`, and `parties` in order); those due expire first."""
    await expire_due(session)
    rows = (await session.execute(
        select(*CHARTER_COLUMNS, ProposalParty.withdrawn_at)
        .join(ProposalParty, ProposalParty.proposal_id == Proposal.id)
        .where(ProposalParty.actor_uri == movement_uri, ProposalParty.role == "party",
               Proposal.agreed_version.is_not(None))
        .order_by(Proposal.agreed_at.desc(), Proposal.id.desc()))).all()
    parties: dict[int, list[tuple[str, object]]] = {}
    if rows:
        mine = select(ProposalParty.proposal_id).where(ProposalParty.actor_uri == movement_uri,
                                                       ProposalParty.role == "party")
        for proposal_id, uri, withdrawn_at in (await session.execute(
                select(ProposalParty.proposal_id, ProposalParty.actor_uri, ProposalParty.withdrawn_at)
                .where(ProposalParty.proposal_id.in_(mine), ProposalParty.role == "party")
                .order_by(ProposalParty.proposal_id, ProposalParty.position))).all():
            parties.setdefault(proposal_id, []).append((uri, withdrawn_at))
    return [CharterRow(row, charter_status(row.state, row.withdrawn_at), parties.get(row.id, [])) for row in rows]


class CharterRow:
    """One agreement of a charter: the proposal's columns, this party's standing, and every party."""

    __slots__ = ("row", "status", "members")

    def __init__(self, row, status: str, members: list[tuple[str, object]]):
        self.row, self.status, self.members = row, status, members

    def __getattr__(self, name):
        return getattr(self.row, name)

    @property
    def parties(self) -> list[str]:
        return [uri for uri, _ in self.members]

    @property
    def withdrawn_by(self) -> list[str]:
        return [uri for uri, when in self.members if when is not None]
