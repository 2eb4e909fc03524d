"""What local movements do with proposals (propose, amend, sign, decline, withdraw) and how it is sent."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import ActorError, get_actor
from federation.agreements.documents import MAX_PARTIES, document_context, proposal_document, version_document
from federation.agreements.lifecycle import (
    accept_amendment,
    allowed_next,
    record_decline,
    record_signature,
    record_withdrawal,
    refresh_expiry,
    transition,
)
from federation.agreements.store import (
    add_version,
    agreement_by_uri,
    members_of,
    party_row,
    signature_of,
    version_of,
)
from federation.content import markdown_to_html
from federation.context import Federation
from federation.keys import secret_for
from federation.notifications import notify_followers
from federation.outbox import (
    follower_actors,
    iso,
    post_note,
    queue_deliveries,
    remote_inboxes,
    store_activity,
)
from federation.proofs import add_proof, content_hash, make_proof
from federation.refusal import Refusal
from federation.vocabulary import PUBLIC, object_link, speaks_agreements
from models import Activity, Actor, utcnow
from models.actor import actors_by_uris, local_actor_by_uri, newest_private_key
from models.agreement import (
    AGREED_STATES,
    Proposal,
    ProposalParty,
    ProposalVersion,
    State,
)

log = logging.getLogger(__name__)


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
        old = await agreement_by_uri(session, proposal.renews_uri)
        if old is not None:
            uris += [m.actor_uri for m in await members_of(session, old)]
    return list(dict.fromkeys(uris))


async def _send(
    session: AsyncSession,
    proposal: Proposal,
    actor: Actor,
    document: dict,
    only: list[str] | None = None,
    audience: list[str] | None = None,
) -> Activity:
    """Stores an activity and queues it for the audience (or only the given actors) and the actor's followers
    on Interpeople instances (others refuse Proposal/Agreement types and get tell_followers' Note instead).
    `audience` is the proposal's audience when the caller has already looked it up."""
    activity = await store_activity(session, actor, document)
    uris = (
        only
        if only is not None
        else audience
        if audience is not None
        else await audience_uris(session, proposal)
    )
    actors = await actors_by_uris(session, uris)
    if only is None:
        actors += [f for f in await follower_actors(session, actor.id) if speaks_agreements(f.document)]
    await queue_deliveries(session, activity, actor, remote_inboxes(actors))
    return activity


def _activity(fed: Federation, proposal_context: list, type_: str, actor: Actor, obj, **fields) -> dict:
    return {
        "@context": proposal_context,
        "id": fed.urls.new_activity(),
        "type": type_,
        "actor": actor.uri,
        "object": obj,
        "published": iso(),
        **fields,
    }


async def publish_proposal(
    session: AsyncSession, fed: Federation, proposal: Proposal, type_: str = "Update"
) -> Activity:
    """The origin tells everyone concerned the proposal's whole state (Create at first, then Update)."""
    author = await local_actor_by_uri(session, proposal.author_uri)
    document = await proposal_document(session, fed, proposal)
    activity = {
        "@context": document["@context"],
        "id": fed.urls.new_activity(),
        "type": type_,
        "actor": author.uri,
        "object": document,
        "published": iso(),
        "to": document["to"],
        "cc": document["cc"],
    }
    return await _send(session, proposal, author, activity)


async def ed25519_secret(session: AsyncSession, actor: Actor):
    key = await newest_private_key(session, actor.id, "ed25519")
    if key is None:
        raise Refusal(500, f"{actor.username} has no Ed25519 key")
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
    known = {a.uri: a for a in await actors_by_uris(session, uris)}
    return [_name(known.get(u), u) for u in uris]


def _check_movement(actor: Actor) -> None:
    if not actor.local or actor.type != "Group" or actor.movement_id is not None:
        raise Refusal(400, f"{actor.username} is not a local movement")


async def _check_new_proposal(
    session: AsyncSession,
    author: Actor,
    parties: list[Actor],
    party_uris: list[str],
    mediator: Actor | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    renews: str | None,
) -> None:
    """Refuses a proposal by anyone but a local movement, with too few or too many parties, non-movements,
    a mediator among the parties, dates in the wrong order, or a renewal the author may not make."""
    _check_movement(author)
    if len(party_uris) < 2:
        raise Refusal(400, "a proposal needs at least one other party")
    if len(party_uris) > MAX_PARTIES:
        raise Refusal(400, f"at most {MAX_PARTIES} parties")
    for actor in parties + ([mediator] if mediator else []):
        if actor.type != "Group":
            raise Refusal(400, f"{actor.handle} is not a movement (it is a {actor.type})")
    if mediator is not None and mediator.uri in party_uris:
        raise Refusal(400, "the mediator cannot also be a party")
    if end is not None and end <= utcnow():
        raise Refusal(400, "the end date is already past")
    if start and end and start >= end:
        raise Refusal(400, "the agreement must start before it ends")
    if renews:
        await _check_renewal(session, author, renews)


async def _check_renewal(session: AsyncSession, author: Actor, renews: str) -> None:
    """Only an agreement this instance knows, and the author is party to, can be renewed."""
    old = await agreement_by_uri(session, renews)
    if old is None or old.agreed_version is None:
        raise Refusal(404, f"this instance knows no agreement {renews}")
    if await party_row(session, old, author.uri) is None:
        raise Refusal(403, f"{author.username} is not a party to {renews}")


async def create_proposal(
    session: AsyncSession,
    fed: Federation,
    author: Actor,
    title: str,
    text: str,
    parties: list[Actor],
    mediator: Actor | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    renews: str | None = None,
    language: str | None = None,
    translations: dict[str, str] | None = None,
) -> Proposal:
    """A new proposal by a local movement to other movements; published at once (draft → open)."""
    party_uris = list(dict.fromkeys([author.uri] + [p.uri for p in parties]))
    await _check_new_proposal(session, author, parties, party_uris, mediator, start, end, renews)
    key = str(uuid.uuid4())
    proposal_uri, agreement_uri = f"{fed.urls.base}/proposals/{key}", f"{fed.urls.base}/agreements/{key}"
    proposal = Proposal(
        uri=proposal_uri,
        agreement_uri=agreement_uri,
        local=True,
        author_uri=author.uri,
        title=title,
        state=State.draft.value,
        mediator_uri=mediator.uri if mediator else None,
        renews_uri=renews,
        start_time=start,
        end_time=end,
    )
    session.add(proposal)
    await session.flush()
    for position, uri in enumerate(party_uris):
        session.add(ProposalParty(proposal_id=proposal.id, actor_uri=uri, role="party", position=position))
    if mediator is not None:
        session.add(
            ProposalParty(proposal_id=proposal.id, actor_uri=mediator.uri, role="mediator", position=0)
        )
    document = version_document(
        context=document_context(fed.urls.base),
        agreement_uri=agreement_uri,
        proposal_uri=proposal_uri,
        author=author.uri,
        version_author=author.uri,
        title=title,
        text=text,
        parties=party_uris,
        mediator=mediator.uri if mediator else None,
        start=start,
        end=end,
        renews=renews,
        previous=None,
        language=language,
        translations=translations,
    )
    version = await add_version(session, proposal, document, 1, author.uri)
    proposal.current_version = version.hash
    await transition(session, proposal, "publish", author.uri, detail=version.hash)
    await publish_proposal(session, fed, proposal, "Create")
    others = await _names(session, party_uris[1:])
    verb = "proposes to renew an agreement" if renews else "proposes an agreement"
    await tell_followers(
        session,
        fed,
        author,
        f"**{_name(author, author.uri)}** {verb} with {', '.join(others)}: "
        f"[{title}]({proposal_uri}). Read it, follow the discussion and see who signs.",
        proposal_uri,
    )
    return proposal


async def _acting_member(session, proposal: Proposal, actor: Actor) -> str:
    _check_movement(actor)
    if await party_row(session, proposal, actor.uri) is not None:
        return "party"
    if await party_row(session, proposal, actor.uri, "mediator") is not None:
        return "mediator"
    raise Refusal(403, f"{actor.username} is neither a party nor the mediator of {proposal.uri}")


async def amend(
    session: AsyncSession,
    fed: Federation,
    actor: Actor,
    proposal: Proposal,
    text: str,
    title: str | None = None,
    translations: dict[str, str] | None = None,
    language: str | None = None,
) -> tuple[ProposalVersion, Activity | None]:
    """A new version by a party or the mediator; ordered at once on the origin, else Offered to it."""
    await _acting_member(session, proposal, actor)
    await refresh_expiry(session, proposal)
    allowed_next(proposal.state, "amend")
    current = await version_of(session, proposal, proposal.current_version)
    base = {k: v for k, v in current.document.items() if k not in ("contentMap",)}
    html = markdown_to_html(text)
    document = {
        **base,
        "name": title or base["name"],
        "content": html,
        "source": {"content": text, "mediaType": "text/markdown"},
        "versionAuthor": actor.uri,
        "previousVersion": current.hash,
        "published": iso(),
    }
    if language or translations:
        document["contentMap"] = ({language: html} if language else {}) | {
            lang: markdown_to_html(body) for lang, body in (translations or {}).items()
        }
    if proposal.local:
        version = await accept_amendment(session, fed, proposal, document, actor.uri)
        await publish_proposal(session, fed, proposal)
        return version, None
    version = await version_of(session, proposal, content_hash(document)) or await add_version(
        session, proposal, document, None, actor.uri
    )
    offer = _activity(
        fed,
        document["@context"],
        "Offer",
        actor,
        document,
        target=proposal.uri,
        to=[proposal.author_uri],
        context=proposal.uri,
    )
    activity = await _send(session, proposal, actor, offer, only=[proposal.author_uri])
    return version, activity


def _check_version(proposal: Proposal, version: str | None) -> None:
    """A signatory acts on the version they read: refused when the proposal was amended meanwhile."""
    if version and version != proposal.current_version:
        raise Refusal(
            409,
            f"the version you read ({version[:12]}…) is no longer the current version of {proposal.uri}; "
            "read the amended one",
        )


def _acted_fields(acted_by: Actor | None, reason: str | None, mandate: dict | None) -> dict:
    """What a Sign (Accept) or Decline (Reject) says of who acted, why, and under which mandate."""
    fields: dict = {}
    if acted_by is not None:
        fields["actedBy"] = acted_by.uri
    if reason:
        fields["content"] = markdown_to_html(reason)
        fields["source"] = {"content": reason, "mediaType": "text/markdown"}
    if mandate:
        fields["mandate"] = mandate["id"]
        fields["mandateDigest"] = mandate["digest"]
    return fields


async def sign(
    session: AsyncSession,
    fed: Federation,
    actor: Actor,
    proposal: Proposal,
    acted_by: Actor | None = None,
    reason: str | None = None,
    version_read: str | None = None,
) -> Activity:
    """The movement signs the current version: its proof goes to everyone as Accept, naming the member who
    acted, the reason, and the internal decision that authorised it (required when the movement says so)."""
    from federation.decisions.mandate import mandate_for

    _check_movement(actor)
    await refresh_expiry(session, proposal)
    _check_version(proposal, version_read)
    version = await version_of(session, proposal, proposal.current_version)
    if await signature_of(session, proposal, version.hash, actor.uri) is not None:
        raise Refusal(409, f"{actor.username} has already signed this version")
    mandate = await mandate_for(session, actor, proposal, version.hash)
    method, private = await ed25519_secret(session, actor)
    proof = make_proof(version.document, private, method, digest=bytes.fromhex(version.hash))
    details = {
        "acted_by": acted_by.uri if acted_by else None,
        "reason": reason or None,
        "mandate_uri": mandate["id"] if mandate else None,
        "mandate_digest": mandate["digest"] if mandate else None,
    }
    await record_signature(session, proposal, version.hash, actor.uri, proof, details)
    document = add_proof(version.document, proof)
    audience = await audience_uris(session, proposal)
    accept = _activity(
        fed,
        version.document["@context"],
        "Accept",
        actor,
        document,
        version=version.hash,
        context=proposal.uri,
        to=[u for u in audience if u != actor.uri],
        cc=[actor.followers_url, PUBLIC],
        **_acted_fields(acted_by, reason, mandate),
    )
    activity = await _send(session, proposal, actor, accept, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    in_force = proposal.state == State.agreed.value
    await tell_followers(
        session,
        fed,
        actor,
        f"**{_name(actor, actor.uri)}** signed [{proposal.title}]"
        f"({page_link(proposal)})."
        + (" Every party has signed: the agreement is in force." if in_force else ""),
        page_link(proposal),
    )
    return activity


async def decline(
    session: AsyncSession,
    fed: Federation,
    actor: Actor,
    proposal: Proposal,
    reason: str | None = None,
    acted_by: Actor | None = None,
    version_read: str | None = None,
) -> Activity:
    """The movement declines the current version (a signed Reject naming who acted and why)."""
    _check_movement(actor)
    await refresh_expiry(session, proposal)
    _check_version(proposal, version_read)
    version = await version_of(session, proposal, proposal.current_version)
    audience = await audience_uris(session, proposal)
    fields = _acted_fields(acted_by, reason, None)
    reject = _activity(
        fed,
        version.document["@context"],
        "Reject",
        actor,
        version.document,
        version=version.hash,
        context=proposal.uri,
        to=[u for u in audience if u != actor.uri],
        cc=[actor.followers_url, PUBLIC],
        **fields,
    )
    reject = await signed(session, actor, reject)
    await record_decline(session, proposal, actor.uri, version.hash, reject)
    activity = await _send(session, proposal, actor, reject, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    return activity


async def withdraw(
    session: AsyncSession, fed: Federation, actor: Actor, proposal: Proposal, from_agreement: bool
) -> Activity:
    """A signed Leave: the author withdraws its proposal, or a party withdraws from the agreement."""
    _check_movement(actor)
    await refresh_expiry(session, proposal)
    target = proposal.agreement_uri if from_agreement else proposal.uri
    context = (await version_of(session, proposal, proposal.current_version)).document["@context"]
    audience = await audience_uris(session, proposal)
    leave = _activity(
        fed,
        context,
        "Leave",
        actor,
        target,
        context=proposal.uri,
        version=proposal.agreed_version or proposal.current_version,
        to=[u for u in audience if u != actor.uri],
        cc=[actor.followers_url, PUBLIC],
    )
    leave = await signed(session, actor, leave)
    await record_withdrawal(session, proposal, actor.uri, leave)
    activity = await _send(session, proposal, actor, leave, audience=audience)
    if proposal.local:
        await publish_proposal(session, fed, proposal)
    what = "the agreement" if from_agreement else "its proposal"
    await tell_followers(
        session,
        fed,
        actor,
        f"**{_name(actor, actor.uri)}** withdrew from {what} [{proposal.title}]({page_link(proposal)}).",
        page_link(proposal),
    )
    return activity


async def comment(
    session: AsyncSession,
    fed: Federation,
    actor: Actor,
    proposal: Proposal,
    text: str,
    in_reply_to: str | None = None,
):
    """A Note in the proposal's discussion, addressed to every party and the mediator."""
    uris = await audience_uris(session, proposal)
    others = list(
        (await session.scalars(select(Actor).where(Actor.uri.in_(uris), Actor.id != actor.id))).all()
    )
    obj, _ = await post_note(
        session,
        fed,
        actor,
        text,
        others,
        in_reply_to=in_reply_to or proposal.uri,
        extra={"context": proposal.uri},
    )
    obj.context = proposal.uri
    return obj
