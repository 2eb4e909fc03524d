"""Open polls on the fediverse (FEP-9967): a movement's open decision goes to its followers as a `Question`;
a vote comes back as a `Note` with `name` (the option) and `inReplyTo` (the question)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.context import Federation
from federation.outbox import follower_actors, queue_deliveries, remote_inboxes, store_activity
from federation.refusal import Refusal
from federation.vocabulary import PUBLIC, id_of, iso
from models import Actor
from models.decision import Decision


async def publish_question(session: AsyncSession, fed: Federation, decision: Decision, type_: str) -> None:
    """Create{Question} when an open poll opens, Update{Question} when it closes, to the movement's followers."""
    from federation.decisions.lifecycle import document_of

    movement = await session.get(Actor, decision.movement_id)
    document = await document_of(session, fed, decision, final=type_ == "Update")
    if decision.closed_at is not None:
        document["closed"] = iso(decision.closed_at)
    activity = {
        "@context": document["@context"],
        "id": fed.urls.new_activity(),
        "type": type_,
        "actor": movement.uri,
        "object": {k: v for k, v in document.items() if k != "@context"},
        "published": iso(),
        "to": [PUBLIC],
        "cc": [movement.followers_url],
    }
    stored = await store_activity(session, movement, activity)
    await queue_deliveries(
        session, stored, movement, remote_inboxes(await follower_actors(session, movement.id))
    )


async def vote_by_note(incoming) -> None:
    """A `Create{Note}` answering a local decision with a `name`: a vote (refused when the poll is for members
    only, closed, or the name is not one of its options)."""
    from federation.decisions.lifecycle import cast_vote

    note = incoming.object
    if not isinstance(note, dict) or note.get("type") != "Note" or not isinstance(note.get("name"), str):
        return
    target = id_of(note.get("inReplyTo"))
    if not isinstance(target, str) or not incoming.fed.urls.is_local(target):
        return
    decision = await incoming.session.scalar(select(Decision).where(Decision.uri == target))
    if decision is None:
        return
    if decision.members_only:
        raise Refusal(403, f"only members of the movement vote in {decision.uri}")
    await cast_vote(
        incoming.session,
        incoming.fed,
        decision,
        incoming.actor,
        note["name"].strip(),
        note_uri=note.get("id"),
    )
