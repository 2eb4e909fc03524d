"""Inbox hooks of forum spaces: a local space checks and Announces what it receives; followers of a
remote space index what it Announces and apply its moderation (routed by federation/routing.py)."""

from __future__ import annotations

from federation.actors import ActorError, get_actor
from federation.context import Federation
from federation.inbox import (
    Incoming,
    fetch_announced,
    on_delete,
    store_fetched_object,
)
from federation.interactions import count_like, uncount_like
from federation.outbox import add_to_timelines, local_follower_ids, tombstone
from federation.spaces.documents import POST_TYPES
from federation.spaces.fetch import fetch_ancestors, fetch_post, known_or_fetched_author
from federation.spaces.moderation import (
    apply_collection_change,
    apply_remote_moderation,
    log_moderation,
    record_report,
)
from federation.spaces.posting import accept_change, accept_post
from federation.spaces.rules import check_may_join
from federation.spaces.store import (
    SpaceView,
    addressed_local_spaces,
    ensure_remote_space,
    index_post,
    post_by_uri,
    remove_post,
    space_of_actor,
    space_view_of_post,
)
from federation.vocabulary import audience_of, host_of, id_of
from models import Actor, Object
from models.actor import actor_by_uri, local_actor_by_uri
from models.content import object_by_uri
from models.space import Space


async def _store_fetched(
    incoming: Incoming, document: dict, author_uri: str | None, space: Space | None, space_uri: str | None
) -> Object | None:
    """Stores a post fetched from its origin (authorship checked) and indexes it when it names the space."""
    session = incoming.session
    existing = await object_by_uri(session, document["id"])
    if existing is not None and existing.local:
        obj = existing
    else:
        obj = await store_fetched_object(session, document, author_uri)
        if obj is None:
            return None
    if space is not None and space_uri in audience_of(obj.document):
        await index_post(session, space, obj)
    return obj


async def _store_ancestors(incoming: Incoming, space: Space | None, space_uri: str | None) -> None:
    for document, author_uri in incoming.prepared.get("ancestors", []):
        await _store_fetched(incoming, document, author_uri, space, space_uri)


async def backfill_for_space(fed: Federation, document: dict, actor: Actor) -> dict:
    """A reply to a local space whose thread we lack: fetch the thread first (outside the transaction)."""
    obj = document.get("object")
    if not isinstance(obj, dict) or not id_of(obj.get("inReplyTo")):
        return {}
    if not any(fed.urls.is_local(uri) for uri in audience_of(obj) | audience_of(document)):
        return {}
    return {"ancestors": await fetch_ancestors(fed, obj)}


async def space_takes_post(incoming: Incoming) -> None:
    obj_doc = incoming.object
    if not isinstance(obj_doc, dict) or obj_doc.get("type") not in POST_TYPES:
        return
    views = await addressed_local_spaces(incoming.session, incoming.fed, obj_doc, incoming.document)
    if not views:
        return
    obj = await object_by_uri(incoming.session, obj_doc["id"])
    for view in views:
        await _store_ancestors(incoming, view.space, view.actor.uri)
        await accept_post(incoming.session, incoming.fed, view, incoming.document, obj, incoming.actor)
    incoming.queued_deliveries = True


async def _relay_change(incoming: Incoming, object_uri: str | None) -> None:
    post = await post_by_uri(incoming.session, object_uri or "")
    if post is None:
        return
    view = await space_view_of_post(incoming.session, post)
    if not view.space.local:
        return
    await accept_change(incoming.session, incoming.fed, view, incoming.document, incoming.actor, post)
    incoming.queued_deliveries = True


async def space_relays_update(incoming: Incoming) -> None:
    if isinstance(incoming.object, dict):
        await _relay_change(incoming, incoming.object_id)


async def space_relays_delete(incoming: Incoming) -> None:
    if incoming.actor.type != "Group" or await space_of_actor(incoming.session, incoming.actor) is None:
        await _relay_change(incoming, incoming.object_id)


async def space_relays_like(incoming: Incoming) -> None:
    await _relay_change(incoming, incoming.object_id)


async def space_checks_follower(incoming: Incoming) -> None:
    target = await local_actor_by_uri(incoming.session, incoming.object_id)
    space = await space_of_actor(incoming.session, target) if target is not None else None
    if space is None or not space.local:
        return
    await check_may_join(incoming.session, space, incoming.actor)


async def space_takes_report(incoming: Incoming) -> None:
    session = incoming.session
    views = await addressed_local_spaces(session, incoming.fed, incoming.document)
    if not views and incoming.recipient is not None:
        space = await space_of_actor(session, incoming.recipient)
        views = [SpaceView(space, incoming.recipient)] if space is not None and space.local else []
    if not views:
        for uri in [
            id_of(o) for o in (incoming.object if isinstance(incoming.object, list) else [incoming.object])
        ]:
            post = await post_by_uri(session, uri or "")
            if post is not None:
                view = await space_view_of_post(session, post)
                views = [view] if view.space.local else []
                break
    for view in views[:1]:
        await record_report(session, view, incoming.actor, incoming.document)


async def _prepare_post(fed: Federation, obj_doc: dict, space_actor: Actor) -> dict:
    """The announced post as its origin serves it (or as embedded, when the space hosts its author)."""
    uri = id_of(obj_doc)
    if not uri or fed.urls.is_local(uri):
        return {}
    if host_of(uri) == host_of(space_actor.uri):
        document, author_uri = obj_doc, await known_or_fetched_author(fed, obj_doc)
    else:
        fetched = await fetch_post(fed, uri)
        if fetched is None:
            return {}
        document, author_uri = fetched
    return {"post": document, "author_uri": author_uri, "ancestors": await fetch_ancestors(fed, document)}


async def prepare_announce(fed: Federation, document: dict, actor: Actor) -> dict:
    inner = document.get("object")
    if (
        isinstance(inner, dict)
        and inner.get("type") in ("Create", "Update")
        and isinstance(inner.get("object"), dict)
    ):
        return await _prepare_post(fed, inner["object"], actor) if actor.type == "Group" else {}
    if isinstance(inner, dict) and "actor" in inner:
        if inner.get("type") in ("Add", "Remove"):  # a moderator's change, Announced by the space
            return await prepare_collection_change(fed, inner, actor)
        if actor.type != "Group" or inner.get("type") not in ("Like", "Undo"):
            return {}  # Announce{Delete|Lock|Block}: nothing to fetch
        try:  # the liker, counted on followers too
            return {"inner_actor": (await get_actor(fed, id_of(inner.get("actor")) or "")).uri}
        except ActorError:
            return {}
    prepared = await fetch_announced(fed, document, actor)
    if actor.type == "Group" and "object" in prepared:
        prepared["ancestors"] = await fetch_ancestors(fed, prepared["object"])
    return prepared


async def _remote_space(incoming: Incoming) -> Space | None:
    actor = incoming.actor
    if actor.type != "Group" or actor.local:
        return None
    return await ensure_remote_space(incoming.session, actor)


async def on_space_announces_post(incoming: Incoming) -> None:
    space = await _remote_space(incoming)
    inner = incoming.object
    if space is None:
        return  # Mastodon ignores Announce{Create} from people too
    if not isinstance(inner, dict):
        return  # an activity named by id only (we know it): nothing to take from it
    obj_doc = inner["object"] if isinstance(inner.get("object"), dict) else None
    if obj_doc is None or obj_doc.get("type") not in POST_TYPES:
        return
    await _store_ancestors(incoming, space, incoming.actor.uri)
    if "post" in incoming.prepared:
        obj = await _store_fetched(
            incoming,
            incoming.prepared["post"],
            incoming.prepared.get("author_uri"),
            space,
            incoming.actor.uri,
        )
    else:  # our own post, coming back
        obj = await object_by_uri(incoming.session, obj_doc.get("id"))
        if obj is not None and incoming.actor.uri in audience_of(obj.document):
            await index_post(incoming.session, space, obj)
    if obj is not None and inner.get("type") == "Create" and obj.deleted_at is None:
        owners = await local_follower_ids(incoming.session, incoming.actor.id)
        await add_to_timelines(incoming.session, obj, incoming.actor, owners, incoming.activity.id)


async def on_space_announces_delete(incoming: Incoming) -> None:
    """A post of a space we follow is gone; when its author deleted it, the space vouches for that."""
    space = await _remote_space(incoming)
    inner = incoming.object
    if space is None or not isinstance(inner, dict):
        return
    post = await post_by_uri(incoming.session, id_of(inner.get("object")) or "")
    if post is None or post.space_id != space.id:
        return
    already = post.removed_at is not None
    await remove_post(incoming.session, post)
    obj = await incoming.session.get(Object, post.object_id)
    author = await incoming.session.get(Actor, obj.attributed_to_id) if obj.attributed_to_id else None
    if author is not None and not obj.local and id_of(inner.get("actor")) == author.uri:
        await tombstone(incoming.session, obj)
    elif not already and (author is None or id_of(inner.get("actor")) != author.uri):
        reason = inner.get("summary") if isinstance(inner.get("summary"), str) else None
        await log_moderation(incoming.session, space, None, "remove", obj.uri, reason)


async def _announced_actor(incoming: Incoming) -> Actor | None:
    uri = incoming.prepared.get("inner_actor")
    return await actor_by_uri(incoming.session, uri) if uri else None


async def on_space_announces_like(incoming: Incoming) -> None:
    """A like of a post of a space we follow, relayed by the space (FEP-1b12): counted here too."""
    space = await _remote_space(incoming)
    inner = incoming.object
    liker = await _announced_actor(incoming)
    if space is None or liker is None or liker.local or not isinstance(inner, dict):
        return
    post = await post_by_uri(incoming.session, id_of(inner.get("object")) or "")
    if post is not None and post.space_id == space.id:
        await count_like(incoming.session, liker, post.object_id, id_of(inner) or incoming.document["id"])


async def on_space_announces_undo(incoming: Incoming) -> None:
    """An unlike relayed by a space we follow, or a moderator's unlock or unban that it Announces."""
    space = await _remote_space(incoming)
    inner = incoming.object
    undone = inner.get("object") if isinstance(inner, dict) else None
    if space is not None and isinstance(undone, dict) and undone.get("type") in ("Lock", "Block"):
        await apply_remote_moderation(incoming.session, incoming.actor, inner, vouched=True)
        return
    liker = await _announced_actor(incoming)
    if space is None or liker is None or liker.local or not isinstance(inner, dict):
        return
    undone = inner.get("object")
    if not isinstance(undone, dict) or undone.get("type") != "Like":
        return
    post = await post_by_uri(incoming.session, id_of(undone.get("object")) or "")
    if post is not None and post.space_id == space.id:
        await uncount_like(incoming.session, liker, post.object_id)


async def on_space_announces_moderation(incoming: Incoming) -> None:
    """Lemmy's shape: a moderator's Lock, Block, Add or Remove, Announced by the space, which vouches for
    it (FEP-1b12); applied as the space's own."""
    space = await _remote_space(incoming)
    inner = incoming.object
    if space is None or not isinstance(inner, dict):
        return
    if inner.get("type") in ("Add", "Remove"):
        uri = incoming.prepared.get("target_actor")
        target = await actor_by_uri(incoming.session, uri) if uri else None
        await apply_collection_change(incoming.session, incoming.actor, inner, target)
    else:
        await apply_remote_moderation(incoming.session, incoming.actor, inner, vouched=True)


async def space_relays_unlike(incoming: Incoming) -> None:
    inner = incoming.object
    if isinstance(inner, dict) and inner.get("type") == "Like":
        await _relay_change(incoming, id_of(inner.get("object")))


async def index_announced_post(incoming: Incoming) -> None:
    """Announce{post id} from a remote space (the Mastodon-friendly form) also lands in the index."""
    if isinstance(incoming.object, dict) and "actor" in incoming.object:
        return
    space = await _remote_space(incoming)
    if space is None:
        return
    await _store_ancestors(incoming, space, incoming.actor.uri)
    obj = await object_by_uri(incoming.session, incoming.object_id)
    if obj is not None and obj.deleted_at is None and incoming.actor.uri in audience_of(obj.document):
        await index_post(incoming.session, space, obj)


async def on_delete_post(incoming: Incoming) -> None:
    if incoming.actor.type == "Group" and await apply_remote_moderation(
        incoming.session, incoming.actor, incoming.document
    ):
        return
    await on_delete(incoming)


async def on_space_undoes_moderation(incoming: Incoming) -> None:
    """A space we follow unlocks a thread or lifts a ban."""
    if incoming.actor.type == "Group":
        await apply_remote_moderation(incoming.session, incoming.actor, incoming.document)


async def on_space_moderation(incoming: Incoming) -> None:
    if incoming.actor.type == "Group":
        await apply_remote_moderation(incoming.session, incoming.actor, incoming.document)


async def prepare_collection_change(fed: Federation, document: dict, actor: Actor) -> dict:
    """Add/Remove by a space: a new moderator is fetched when unknown (outside the transaction)."""
    target = id_of(document.get("object"))
    if (
        actor.type != "Group"
        or not target
        or not str(id_of(document.get("target")) or "").endswith("/moderators")
    ):
        return {}
    try:
        return {"target_actor": (await get_actor(fed, target)).uri}
    except ActorError:
        return {}


async def on_space_collection_change(incoming: Incoming) -> None:
    """A space we follow pins or unpins a thread, or adds or removes a moderator."""
    if incoming.actor.type != "Group":
        return
    uri = incoming.prepared.get("target_actor")
    target = await actor_by_uri(incoming.session, uri) if uri else None
    await apply_collection_change(incoming.session, incoming.actor, incoming.document, target)
