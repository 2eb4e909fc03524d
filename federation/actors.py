"""Local actor documents, and remote actors: WebFinger resolution, fetching and key caching."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import quote, urldefrag, urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.content import sanitize_html
from federation.context import Federation
from federation.fetch import FetchError, parse_json_document
from federation.inbound import MAX_URI, clean_strings
from federation.keys import (
    ED25519_FRAGMENT,
    RSA_FRAGMENT,
    identifier_for,
    multikey_document,
    new_ed25519_keypair,
    new_rsa_keypair,
    public_key_document,
)
from federation.settings import is_loopback_host
from federation.urls import SLUG
from federation.vocabulary import (
    ACTOR_CONTEXT,
    ACTOR_TYPES,
    AGREEMENTS_CONTEXT_PATH,
    as_list,
    host_of,
    id_of,
)
from models import Actor, Key, utcnow
from models.actor import actor_by_handle, actor_by_uri, local_actor
from models.space import Space

if TYPE_CHECKING:  # bovine loads at first use (it costs ~37 MB)
    from bovine.crypto.types import CryptographicIdentifier

log = logging.getLogger(__name__)


class ActorError(Exception):
    """An actor that cannot be found, fetched or trusted."""


# ---------------------------------------------------------------- local actors


async def create_local_actor(
    session: AsyncSession,
    fed: Federation,
    username: str,
    type_: str,
    name: str | None = None,
    summary: str | None = None,
    uri: str | None = None,
    **fields,
) -> Actor:
    """A new local actor with an RSA key (HTTP signatures) and an Ed25519 key (object proofs)."""
    if not SLUG.match(username):
        raise ActorError(f"{username!r} is not a valid name: use a-z, 0-9, _ . - (up to 64 characters)")
    taken = await local_actor(session, username)
    if taken:
        raise ActorError(f"the name {username!r} is already taken on this instance")
    urls = fed.urls
    uri = uri or urls.actor(username)
    actor = Actor(
        uri=uri,
        type=type_,
        local=True,
        username=username,
        host=fed.settings.host,
        name=name,
        summary=summary,
        url=uri,
        inbox=f"{uri}/inbox",
        shared_inbox=urls.shared_inbox,
        outbox=f"{uri}/outbox",
        followers_url=f"{uri}/followers",
        following_url=f"{uri}/following",
        **fields,
    )
    session.add(actor)
    await session.flush()
    rsa_public, rsa_private = new_rsa_keypair()
    ed_public, ed_private = new_ed25519_keypair()
    session.add_all(
        [
            Key(
                uri=uri + RSA_FRAGMENT, actor_id=actor.id, kind="rsa", public=rsa_public, private=rsa_private
            ),
            Key(
                uri=uri + ED25519_FRAGMENT,
                actor_id=actor.id,
                kind="ed25519",
                public=ed_public,
                private=ed_private,
            ),
        ]
    )
    await session.flush()
    return actor


async def _is_members_only_space(session: AsyncSession, actor: Actor) -> bool:
    visibility = await session.scalar(select(Space.visibility).where(Space.actor_id == actor.id))
    return visibility is not None and visibility != "public"


async def actor_document(session: AsyncSession, fed: Federation, actor: Actor) -> dict:
    keys = (await session.scalars(select(Key).where(Key.actor_id == actor.id).order_by(Key.id))).all()
    rsa = [k for k in keys if k.kind == "rsa"]
    eds = [k for k in keys if k.kind == "ed25519"]
    document = {
        "@context": [*ACTOR_CONTEXT, fed.urls.base + AGREEMENTS_CONTEXT_PATH],
        "id": actor.uri,
        "type": actor.type,
        "preferredUsername": actor.username,
        "name": actor.name or actor.username,
        "summary": actor.summary or "",
        "url": actor.url or actor.uri,
        "inbox": actor.inbox,
        "outbox": actor.outbox,
        "followers": actor.followers_url,
        "following": actor.following_url,
        "endpoints": {"sharedInbox": fed.urls.shared_inbox},
        "manuallyApprovesFollowers": not actor.auto_accept,
        "discoverable": True,
        "published": actor.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rsa:
        document["publicKey"] = public_key_document(actor.uri, rsa[-1].public)
    if eds:
        document["assertionMethod"] = [multikey_document(actor.uri, k.public) | {"id": k.uri} for k in eds]
    if actor.type == "Group" and await _is_members_only_space(session, actor):
        document["membersOnly"] = True  # peers address its posts to members only (Interpeople's context)
    if actor.movement_id is not None:
        movement = await session.get(Actor, actor.movement_id)
        if movement is not None:
            document["attributedTo"] = movement.uri
    return document


# ---------------------------------------------------------------- remote actors


def parse_handle(handle: str) -> tuple[str, str]:
    """'name@host[:port]' (a leading @ allowed) into (name, host)."""
    handle = handle.strip()
    if handle[:5].lower() == "acct:":  # URI schemes are case-insensitive (RFC 3986)
        handle = handle[5:]
    handle = handle.lstrip("@")
    name, sep, host = handle.rpartition("@")
    if not sep or not name or not host or "/" in host:
        raise ActorError(f"{handle!r} is not a handle of the form name@host")
    return name, host.lower()


# The scheme a loopback peer answered on last time (local testing), tried first next time.
_LOOPBACK_SCHEMES: dict[str, str] = {}


def _schemes_for(fed: Federation, host: str) -> list[str]:
    """https; on loopback in local-testing mode https first, then plain http (or the one that worked last)."""
    hostname = urlsplit(f"//{host}").hostname or host
    if not (fed.settings.local_testing and is_loopback_host(hostname)):
        return ["https"]
    first = _LOOPBACK_SCHEMES.get(host, "https")
    return [first, "http" if first == "https" else "https"]


async def _fetch_webfinger(fed: Federation, name: str, host: str) -> tuple[bytes, str]:
    resource = quote(f"acct:{name}@{host}")
    schemes = _schemes_for(fed, host)
    failures = []
    for scheme in schemes:
        url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
        try:
            body, _ = await fed.fetch(url, accept="application/jrd+json, application/json", signed=False)
        except FetchError as error:
            failures.append(str(error))
            if error.status is None and scheme != schemes[-1]:
                continue  # no answer on this scheme (e.g. https to a plain-http peer): try the next one
            if error.status == 404:
                raise ActorError(f"{name}@{host} does not exist (WebFinger answered 404)") from None
            raise ActorError(f"cannot resolve {name}@{host}: {'; '.join(failures)}") from None
        if len(schemes) > 1:
            _LOOPBACK_SCHEMES[host] = scheme
        return body, url
    raise AssertionError("unreachable")


async def webfinger(fed: Federation, handle: str) -> str:
    """The actor id behind a handle, through WebFinger (RFC 7033)."""
    name, host = parse_handle(handle)
    body, url = await _fetch_webfinger(fed, name, host)
    try:
        jrd = parse_json_document(body, url)
    except FetchError as error:
        raise ActorError(str(error)) from None
    for link in as_list(jrd.get("links")):
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        if link.get("type", "").split(";")[0].strip() in ("application/activity+json", "application/ld+json"):
            return link["href"]
    raise ActorError(f"{name}@{host} has no ActivityPub actor")


async def store_actor_document(session: AsyncSession, document: dict) -> Actor:
    """Creates or refreshes a remote actor and its keys from its (already fetched) document."""
    document = clean_strings(document)  # NUL and lone surrogates fit no column
    uri = _short(document.get("id"))
    if uri is None or not isinstance(document.get("type"), str) or document["type"] not in ACTOR_TYPES:
        raise ActorError("not an actor document (or its id is too long)")
    if _short(document.get("inbox")) is None:
        raise ActorError(f"actor {uri} has no inbox")
    host = host_of(uri)
    username = document.get("preferredUsername")
    if not isinstance(username, str) or not 0 < len(username) <= 200:
        username = uri.rstrip("/").rsplit("/", 1)[-1][-200:]
    endpoints = document.get("endpoints") if isinstance(document.get("endpoints"), dict) else {}
    actor = await actor_by_uri(session, uri)
    if actor is None:
        clash = await actor_by_handle(session, username, host)
        if clash is not None:  # the peer moved a name to a new id: the newest document wins
            clash.username = f"{username}~{clash.id}"
        actor = Actor(uri=uri, local=False, host=host, username=username, type=document["type"])
        session.add(actor)
    actor.type = document["type"]
    actor.username = username
    actor.name = document.get("name") if isinstance(document.get("name"), str) else None
    actor.summary = (
        sanitize_html(document.get("summary")) if isinstance(document.get("summary"), str) else None
    )
    url = document.get("url")
    actor.url = _short(id_of(url[0] if isinstance(url, list) and url else url))
    actor.inbox = document["inbox"]
    actor.shared_inbox = _short(endpoints.get("sharedInbox"))
    actor.outbox = _short(document.get("outbox"))
    actor.followers_url = _short(document.get("followers"))
    actor.following_url = _short(document.get("following"))
    actor.document = document
    actor.fetched_at = utcnow()
    await session.flush()
    await _store_keys(session, actor, document)
    return actor


def _short(value) -> str | None:
    """A string that fits an id column (MAX_URI characters), else None."""
    return value if isinstance(value, str) and len(value) <= MAX_URI else None


async def _store_keys(session: AsyncSession, actor: Actor, document: dict) -> None:
    found: list[Key] = []
    for key in as_list(document.get("publicKey")):
        if (
            isinstance(key, dict)
            and key.get("owner") == actor.uri
            and isinstance(key.get("publicKeyPem"), str)
        ):
            found.append(
                Key(
                    uri=_short(key.get("id")) or actor.uri + RSA_FRAGMENT,
                    actor_id=actor.id,
                    kind="rsa",
                    public=key["publicKeyPem"],
                )
            )
    for key in as_list(document.get("assertionMethod")):
        if (
            isinstance(key, dict)
            and key.get("type") == "Multikey"
            and key.get("controller") == actor.uri
            and isinstance(key.get("publicKeyMultibase"), str)
        ):
            found.append(
                Key(
                    uri=_short(key.get("id")) or actor.uri + ED25519_FRAGMENT,
                    actor_id=actor.id,
                    kind="ed25519",
                    public=key["publicKeyMultibase"],
                )
            )
    await session.execute(delete(Key).where(Key.actor_id == actor.id))
    for key in found:
        # A key id claimed by another actor is not trusted for this one.
        await session.execute(delete(Key).where(Key.uri == key.uri))
        session.add(key)
    await session.flush()


async def save_actor_document(fed: Federation, document: dict) -> Actor:
    """Stores a fetched actor document in its own transaction.

    Two requests may bring the same new actor at once (a Follow and a post, say); the loser of
    that race finds the winner's row on its second try and updates it.
    """
    return await fed.db.session_retried_on_conflict(lambda session: store_actor_document(session, document))


async def fetch_actor(fed: Federation, uri: str) -> Actor:
    """Fetches (or refetches) a remote actor and stores it."""
    uri = urldefrag(uri)[0]
    if fed.urls.is_local(uri):
        async with fed.db.session() as session:
            actor = await actor_by_uri(session, uri)
        if actor is None:
            raise ActorError(f"no local actor {uri}")
        return actor
    try:
        document = await fed.fetch_document(uri)
    except FetchError as error:
        raise ActorError(f"cannot fetch actor {uri}: {error}") from None
    if document.get("id") != uri:
        raise ActorError(f"{uri} is not an actor document")
    return await save_actor_document(fed, document)


async def get_actor(fed: Federation, uri: str, refresh: bool = False) -> Actor:
    """A known actor from the database, fetched when unknown (or when refresh is asked)."""
    if not refresh:
        async with fed.db.session() as session:
            actor = await actor_by_uri(session, uri)
        if actor is not None:
            return actor
    return await fetch_actor(fed, uri)


async def resolve_handle(fed: Federation, handle: str) -> Actor:
    """A local or remote actor from 'name@host'; remote ones through WebFinger."""
    name, host = parse_handle(handle)
    async with fed.db.session() as session:
        if host == fed.settings.host.lower():
            actor = await local_actor(session, name)
            if actor is None:
                raise ActorError(f"no actor {name} on this instance")
            return actor
        known = await actor_by_handle(session, name, host)
    if known is not None:
        return known
    return await fetch_actor(fed, await webfinger(fed, handle))


class KeyCache:
    """Public keys of signers by key id, kept in memory: the inbox's hot path."""

    def __init__(self, fed: Federation, size: int = 20_000):
        self.fed = fed
        self.size = size
        self._keys: dict[str, CryptographicIdentifier] = {}

    async def lookup(self, key_id: str, refresh: bool) -> CryptographicIdentifier | None:
        if not refresh and key_id in self._keys:
            return self._keys[key_id]
        if refresh and key_id not in self._keys:
            return None  # nothing cached, so the first lookup already fetched it
        key = None if refresh else await self._from_database(key_id)
        if key is None:
            key = await self._from_network(key_id)
        if key is not None:
            if len(self._keys) >= self.size:
                self._keys.pop(next(iter(self._keys)))
            self._keys[key_id] = key
        return key

    async def _from_database(self, key_id: str) -> CryptographicIdentifier | None:
        async with self.fed.db.session() as session:
            row = await session.execute(
                select(Key.public, Key.kind, Actor.uri)
                .join(Actor, Actor.id == Key.actor_id)
                .where(Key.uri == key_id)
            )
            found = row.first()
        return identifier_for(found.uri, found.public, found.kind) if found else None

    async def _from_network(self, key_id: str) -> CryptographicIdentifier | None:
        if self.fed.urls.is_local(key_id):
            return await self._from_database(key_id)
        try:
            document = await self.fed.fetch_document(urldefrag(key_id)[0])
        except FetchError as error:
            log.info("cannot fetch key %s: %s", key_id, error)
            return None
        if document.get("type") not in ACTOR_TYPES:
            owner = id_of(document.get("owner")) or id_of(document.get("controller"))
            if not owner:
                return None
            try:
                document = await self.fed.fetch_document(owner)
            except FetchError:
                return None
        try:
            await save_actor_document(self.fed, document)
        except ActorError as error:
            log.info("key %s: %s", key_id, error)
            return None
        return await self._from_database(key_id)

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)
