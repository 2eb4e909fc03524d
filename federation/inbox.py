"""Receiving activities: checks that need no processing, the journal append, then applying them (core handlers)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.accounts.blocks import refuse_blocked
from federation.actors import ActorError, get_actor, store_actor_document
from federation.content import published_of, remote_object_fields
from federation.context import Federation
from federation.edits import changes, remember_version
from federation.inbound import check_sizes, normalize_activity, normalize_object, one_author, parse_document
from federation.journal import Claimed, Journal, Outcome
from federation.outbox import add_to_timelines, local_follower_ids, reply_to_follow, tombstone
from federation.proofs import verify_single_proof
from federation.refusal import Refusal
from federation.routing import routes
from federation.signatures import SignatureError, verify_request
from federation.vocabulary import (
    ACTOR_TYPES,
    POST_TYPES,
    audience_of,
    dumps,
    host_of,
    id_of,
    linked_objects,
    reaches_followers,
)
from models import Activity, Actor, Follow, InboxState, Object, TimelineEntry, utcnow
from models.actor import actor_by_uri, local_actor_by_uri
from models.base import insert_unless_present
from models.content import activity_by_uri, object_by_uri
from models.follow import follow_between, move_follow

log = logging.getLogger(__name__)
S = InboxState


@dataclass
class Incoming:
    """One verified activity being applied, inside the transaction that stores it."""

    fed: Federation
    session: AsyncSession
    document: dict
    actor: Actor
    recipient: Actor | None
    activity: Activity
    prepared: dict = field(default_factory=dict)
    queued_deliveries: bool = False

    @property
    def object(self):
        return self.document.get("object")

    @property
    def object_id(self) -> str | None:
        return id_of(self.document.get("object"))


async def object_type_of(session: AsyncSession, value) -> str | None:
    """The type of an activity's object, embedded or known to us by id."""
    if isinstance(value, dict):
        return value.get("type") if isinstance(value.get("type"), str) else None
    if not isinstance(value, str):
        return None
    found = await session.scalar(select(Object.type).where(Object.uri == value))
    if found:
        return found
    return await session.scalar(select(Activity.type).where(Activity.uri == value))


def _embedded_type(document: dict) -> str | None:
    obj = document.get("object")
    return obj.get("type") if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None


class Inbox:
    """The inbox of one instance (shared and per actor): checks, journals, and later applies activities."""

    def __init__(self, fed: Federation):
        self.fed = fed
        self.keys = fed.keys
        self.journal = Journal(fed)
        self.receiving = 0  # requests being answered now (the processor gives way to them)
        self.last_arrival = 0.0  # event-loop time of the latest request

    async def receive(
        self, method: str, path_qs: str, headers, body: bytes, recipient: Actor | None = None
    ) -> tuple[int, str]:
        self.receiving += 1
        self.last_arrival = asyncio.get_running_loop().time()
        try:
            return await self._receive(method, path_qs, headers, body, recipient)
        except Refusal as error:
            log.info("inbox refused (%d): %s", error.status, error.message)
            return error.status, error.message
        finally:
            self.receiving -= 1

    def busy(self, now: float, within: float) -> bool:
        """Whether requests are being answered, or one arrived in the last `within` seconds (between two
        requests of a burst the count drops to 0 for a moment)."""
        return self.receiving > 0 or now - self.last_arrival < within

    async def _receive(self, method, path_qs, headers, body, recipient) -> tuple[int, str]:
        """Checks what needs no processing (4xx at once), commits the activity to the journal, answers 202.

        An activity other than a plain post is also given `inbox_answer_wait` seconds to be processed here,
        so that its sender hears a refusal found while processing it (which is recorded on the entry too)."""
        document, cleaned = self._parse(body)
        await refuse_blocked(self.fed, id_of(document["actor"]), document["id"])
        if await self._is_goodbye_from_stranger(document):
            # A deleted account we never knew: its key is gone, and there is nothing to clean up.
            return 202, "nothing to delete"
        try:
            signer = await verify_request(
                method,
                path_qs,
                headers,
                body,
                self.keys.lookup,
                self.fed.settings.signature_max_age,
                self.fed.settings.signature_max_future,
                base_url=self.fed.settings.base_url,
            )
        except SignatureError as error:
            raise Refusal(error.status, str(error)) from None
        actor_uri = id_of(document["actor"])
        await self._check_authorship(document, actor_uri, signer)
        shaped = normalize_activity(document, actor_uri)  # one type and one author per object
        if cleaned or shaped != document:
            body = dumps(shaped).encode("utf-8")  # what is journaled is what the handlers read
        document = shaped
        self._check_embedded_object(document, actor_uri)
        entry_id = await self.journal.append(document, body, recipient.id if recipient is not None else None)
        if entry_id is None:
            return 202, "already received"
        wait = self.fed.settings.inbox_answer_wait
        if wait > 0 and not self.is_plain_post(document, actor_uri):
            outcome = await self.journal.outcome(entry_id, wait)
            if outcome is not None and outcome.state is S.refused:
                return outcome.status, outcome.error or "refused"
        return 202, "accepted"

    def is_plain_post(self, document: dict, actor_uri: str) -> bool:
        """A Create of an embedded object by its author that names no local actor: storable in bulk."""
        obj = document.get("object")
        if document["type"] != "Create" or not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            return False
        if obj.get("type") not in POST_TYPES or routes().plain_path("Create", obj["type"]) is not on_create:
            return False
        if id_of(obj.get("attributedTo")) != actor_uri or host_of(obj["id"]) != host_of(actor_uri):
            return False  # the general path gives the refusal
        if linked_objects(obj):
            return False  # a post linking objects may be a notice that notifies followers
        is_local = self.fed.urls.is_local
        return not any(is_local(uri) for uri in audience_of(document) | audience_of(obj))

    def _check_embedded_object(self, document: dict, actor_uri: str) -> None:
        """A Create or Update of a post embeds the actor's own object (a check that needs no storage)."""
        obj = document.get("object")
        if (
            document["type"] not in ("Create", "Update")
            or not isinstance(obj, dict)
            or not isinstance(obj.get("id"), str)
        ):
            return  # processing refuses it (400)
        core = on_create if document["type"] == "Create" else on_update
        if routes().handler_for(document["type"], _embedded_type(document)) is not core:
            return
        if document["type"] == "Update" and obj.get("id") == actor_uri:
            return  # the actor's own document
        check_authored_by(obj, actor_uri)

    async def _is_goodbye_from_stranger(self, document: dict) -> bool:
        actor_uri = id_of(document["actor"])
        if document["type"] != "Delete" or id_of(document.get("object")) != actor_uri:
            return False
        async with self.fed.db.session() as session:
            return await session.scalar(select(Actor.id).where(Actor.uri == actor_uri)) is None

    def _parse(self, body: bytes) -> tuple[dict, bool]:
        """The activity and whether its strings were cleaned (federation/inbound.py); 4xx when unusable."""
        if len(body) > self.fed.settings.max_inbox_bytes:
            raise Refusal(413, "payload too large")
        document, cleaned = parse_document(body)
        for name in ("id", "type", "actor"):
            if not (isinstance(document.get(name), str) or (name == "actor" and id_of(document.get(name)))):
                if name != "type" or not isinstance(document.get(name), list):
                    raise Refusal(400, f"activity has no {name}")
        if document["id"] == id_of(document["actor"]):
            raise Refusal(400, "activity id is its actor's id")  # it would be stored under the actor's URI
        check_sizes(document)
        return document, cleaned

    async def _check_authorship(self, document: dict, actor_uri: str, signer: str) -> None:
        """An actor acts only for itself: it signed the request, or the activity carries its proof."""
        if signer == actor_uri and host_of(document["id"]) == host_of(actor_uri):
            return
        if "proof" in document and await verify_single_proof(document, self.keys.lookup) == actor_uri:
            return
        if signer != actor_uri:
            raise Refusal(403, f"signed by {signer}, but the activity's actor is {actor_uri}")
        raise Refusal(403, "activity id is not on the actor's host")

    # ------------------------------------------------------------ processing a journal entry

    async def process(self, entry: Claimed, document: dict) -> Outcome:
        """Applies one journaled activity (the general path); the entry is marked done in the same
        transaction. A refusal is the outcome `refused`; other errors are raised (the worker retries)."""
        try:
            actor = await get_actor(self.fed, id_of(document["actor"]))
        except ActorError as error:
            raise RuntimeError(f"cannot get the actor: {error}") from None
        recipient = None
        if entry.recipient_id is not None:
            async with self.fed.db.session() as session:
                recipient = await session.get(Actor, entry.recipient_id)
        try:
            await self.apply(document, actor, recipient, entry)
        except Refusal as error:  # a feature's refusal that escaped its converter
            return Outcome(S.refused, error.message, error.status)
        return Outcome(S.done)

    async def apply(
        self, document: dict, actor: Actor, recipient: Actor | None, entry: Claimed | None = None
    ) -> None:
        """Stores the activity once and applies its effects, all in one transaction (with the entry's done)."""
        table = routes()
        prepared = {}
        preparer = table.preparer_for(document["type"], _embedded_type(document))
        if preparer is not None:
            prepared = await preparer(self.fed, document, actor)
        async with self.fed.db.write_session() as session:
            if entry is not None:
                await session.execute(
                    self.journal.finish_statement(
                        entry.id, self.journal.outcome_values(entry, Outcome(S.done))
                    )
                )
            activity = await self._store(session, document, actor)
            if activity is None:
                return  # already received
            incoming = Incoming(self.fed, session, document, actor, recipient, activity, prepared)
            object_type = await object_type_of(session, document.get("object"))
            handler = table.handler_for(document["type"], object_type)
            if handler is not None:
                await handler(incoming)  # a Refusal rolls everything back
            for observer in table.observers_for(document["type"]):
                await observer(incoming)
        if incoming.queued_deliveries:
            self.fed.deliveries_queued.set()

    async def _store(self, session: AsyncSession, document: dict, actor: Actor) -> Activity | None:
        values = {
            "uri": document["id"],
            "type": document["type"],
            "actor_id": actor.id,
            "local": False,
            "object_uri": id_of(document.get("object")),
            "payload": dumps(document),
            "created_at": utcnow(),
        }
        new_id = await insert_unless_present(session, Activity, "uri", values)
        return None if new_id is None else await session.get(Activity, new_id)


# ---------------------------------------------------------------- handlers


async def _recipients_for(incoming: Incoming, document: dict) -> set[int]:
    """Local actors who should see what this actor sent: followers (if addressed) and named actors."""
    session, actor = incoming.session, incoming.actor
    audience = audience_of(document) | audience_of(incoming.document)
    owners: set[int] = set()
    if reaches_followers(audience, actor.followers_url):
        owners |= await local_follower_ids(session, actor.id)
    local_uris = [uri for uri in audience if incoming.fed.urls.is_local(uri)]
    if local_uris:
        owners |= set(
            (
                await session.scalars(
                    select(Actor.id).where(Actor.uri.in_(local_uris), Actor.local.is_(True))
                )
            ).all()
        )
    if incoming.recipient is not None:
        owners.add(incoming.recipient.id)
    return owners


async def store_remote_object(session: AsyncSession, document: dict, author: Actor) -> Object:
    """Stores (or refreshes) a remote object whose author has been checked."""
    obj = await object_by_uri(session, document["id"])
    fields = remote_object_fields(document, author.followers_url)
    if obj is None:
        obj = Object(uri=document["id"], local=False, published=published_of(document))
        session.add(obj)
    elif obj.deleted_at is None and changes(obj, fields["name"], fields["content"]):
        await remember_version(session, obj)  # an edit: the earlier text stays in the history
    obj.attributed_to_id = author.id
    for name, value in fields.items():
        setattr(obj, name, value)
    await session.flush()
    return obj


async def save_remote_object(fed: Federation, document: dict, author_uri: str) -> Object:
    """Stores a fetched object, checked against its author, in its own transaction.

    The same object may arrive by another path while it is being fetched (an Announce of it, say);
    the loser of that race finds the winner's row on its second try and refreshes it.
    """
    return await fed.db.session_retried_on_conflict(
        lambda session: store_fetched_object(session, document, author_uri)
    )


async def store_fetched_object(
    session: AsyncSession, document: dict, author_uri: str | None
) -> Object | None:
    """A fetched object stored (or refreshed) once it is shown to be its author's; None when the author is unknown."""
    author = await actor_by_uri(session, author_uri) if author_uri else None
    if author is None:
        return None
    document = normalize_object(document, author.uri)
    check_authored_by(document, author)
    return await store_remote_object(session, document, author)


def check_authored_by(document: dict, actor: Actor | str) -> None:
    """The object is the actor's: attributed to it, and its id on the actor's host."""
    actor_uri = actor if isinstance(actor, str) else actor.uri
    author = id_of(document.get("attributedTo"))
    if author != actor_uri:
        raise Refusal(403, f"{actor_uri} cannot act on an object attributed to {author}")
    if host_of(document.get("id")) != host_of(actor_uri):
        raise Refusal(403, "object id is not on its author's host")


async def on_create(incoming: Incoming) -> None:
    obj = incoming.object
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise Refusal(400, "Create must embed its object")
    check_authored_by(obj, incoming.actor)
    stored = await store_remote_object(incoming.session, obj, incoming.actor)
    owners = await _recipients_for(incoming, obj)
    await add_to_timelines(incoming.session, stored, incoming.actor, owners, incoming.activity.id)


async def on_update(incoming: Incoming) -> None:
    obj = incoming.object
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise Refusal(400, "Update must embed its object")
    if obj["id"] == incoming.actor.uri and obj.get("type") in ACTOR_TYPES:
        try:
            await store_actor_document(incoming.session, obj)
        except ActorError as error:
            raise Refusal(400, str(error)) from None
        return
    existing = await object_by_uri(incoming.session, obj["id"])
    if existing is not None and existing.attributed_to_id != incoming.actor.id:
        raise Refusal(403, "only the author may update an object")
    check_authored_by(obj, incoming.actor)
    if existing is not None:
        await store_remote_object(incoming.session, obj, incoming.actor)
        existing.updated = utcnow()


async def on_delete(incoming: Incoming) -> None:
    session, actor, target = incoming.session, incoming.actor, incoming.object_id
    if target is None:
        raise Refusal(400, "Delete has no object")
    if target == actor.uri:
        await session.execute(
            delete(Follow).where((Follow.follower_id == actor.id) | (Follow.followee_id == actor.id))
        )
        return
    existing = await object_by_uri(session, target)
    if existing is None:
        return
    if existing.attributed_to_id != actor.id:
        raise Refusal(403, "only the author may delete an object")
    await tombstone(session, existing)


async def on_follow(incoming: Incoming) -> None:
    session, actor = incoming.session, incoming.actor
    target = await local_actor_by_uri(session, incoming.object_id)
    if target is None:
        raise Refusal(404, f"no local actor {incoming.object_id}")
    follow = await follow_between(session, actor.id, target.id)
    if follow is None:
        follow = Follow(follower_id=actor.id, followee_id=target.id, activity_uri=incoming.document["id"])
        session.add(follow)
    follow.activity_uri = incoming.document["id"]
    move_follow(follow, "request")
    if target.auto_accept:
        move_follow(follow, "accept")
    await session.flush()
    if target.auto_accept:
        await reply_to_follow(session, incoming.fed, target, actor, incoming.document, accept=True)
        incoming.queued_deliveries = True


async def _our_follow(incoming: Incoming) -> Follow | None:
    """The Follow of ours that an Accept or Reject answers, matched by id (as Mastodon does)."""
    session, obj = incoming.session, incoming.object
    follow = await session.scalar(select(Follow).where(Follow.activity_uri == incoming.object_id))
    if follow is None and isinstance(obj, dict) and obj.get("type") == "Follow":
        follower = await local_actor_by_uri(session, id_of(obj.get("actor")))
        if follower is not None:
            follow = await follow_between(session, follower.id, incoming.actor.id)
    if follow is not None and follow.followee_id != incoming.actor.id:
        raise Refusal(403, "only the followed actor may answer a Follow")
    return follow


async def on_accept_follow(incoming: Incoming) -> None:
    follow = await _our_follow(incoming)
    if follow is not None:
        move_follow(follow, "accept")


async def on_reject_follow(incoming: Incoming) -> None:
    follow = await _our_follow(incoming)
    if follow is not None:
        move_follow(follow, "reject")


async def on_undo(incoming: Incoming) -> None:
    session, actor, obj = incoming.session, incoming.actor, incoming.object
    undone = await activity_by_uri(session, incoming.object_id)
    if undone is not None and undone.actor_id != actor.id:
        raise Refusal(403, "only an activity's actor may undo it")
    if isinstance(obj, dict) and id_of(obj.get("actor")) not in (None, actor.uri):
        raise Refusal(403, "only an activity's actor may undo it")
    undone_type = (obj.get("type") if isinstance(obj, dict) else None) or (undone.type if undone else None)
    if undone_type == "Follow":
        target_uri = id_of(obj.get("object")) if isinstance(obj, dict) else undone.object_uri
        await session.execute(
            delete(Follow).where(
                Follow.follower_id == actor.id,
                (Follow.activity_uri == incoming.object_id)
                | Follow.followee_id.in_(select(Actor.id).where(Actor.uri == target_uri)),
            )
        )
    elif undone_type == "Announce" and undone is not None:
        await session.execute(delete(TimelineEntry).where(TimelineEntry.activity_id == undone.id))


async def fetch_announced(fed: Federation, document: dict, actor: Actor) -> dict:
    """Fetches the announced object (and its author) unless we know it already."""
    obj = document.get("object")
    uri = id_of(obj)
    if not uri:
        raise Refusal(400, "Announce has no object")
    async with fed.db.session() as session:
        if await session.scalar(select(Object.id).where(Object.uri == uri)):
            return {}
    if fed.urls.is_local(uri):
        return {}
    try:
        fetched = await fed.fetch_document(uri)
        author = await get_actor(fed, one_author(fetched.get("attributedTo")) or "")
    except Exception as error:  # an unreachable object leaves the Announce stored, nothing more
        log.info("cannot fetch announced %s: %s", uri, error)
        return {}
    return {"object": fetched, "author_uri": author.uri}


async def on_announce(incoming: Incoming) -> None:
    session = incoming.session
    obj = await object_by_uri(session, incoming.object_id)
    fetched = incoming.prepared.get("object")
    if obj is None and fetched is not None:
        obj = await store_fetched_object(session, fetched, incoming.prepared["author_uri"])
    if obj is None or obj.deleted_at is not None:
        return
    owners = await _recipients_for(incoming, incoming.document)
    await add_to_timelines(session, obj, incoming.actor, owners, incoming.activity.id)
