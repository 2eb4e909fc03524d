"""The delivery queue forgets rows delivered long ago, and keeps failed, pending and recent ones."""

import asyncio
import datetime as dt

from models.delivery import DeliveryState
from tests.federations import fresh_federation

S = DeliveryState


def test_rows_delivered_long_ago_are_pruned_but_failed_pending_and_recent_ones_stay(tmp_path):
    from sqlalchemy import select

    from federation.delivery import DeliveryWorker
    from models import Activity, Actor, Delivery

    now = dt.datetime.now(dt.timezone.utc)
    old, recent = now - dt.timedelta(days=20), now - dt.timedelta(days=1)
    kept = {
        "failed-old": (S.failed, old),
        "delivered-recent": (S.delivered, recent),
        "retrying-old": (S.retrying, old),
    }
    pruned = {
        "delivered-old": (S.delivered, old),
        "delivered-older": (S.delivered, old - dt.timedelta(days=30)),
    }

    async def run() -> tuple[int, set]:
        async with fresh_federation(tmp_path) as fed:
            async with fed.db.session() as session:
                actor = Actor(uri="http://127.0.0.1:8/actors/a", type="Group", username="a", host="x")
                session.add(actor)
                await session.flush()
                activity = Activity(uri="http://127.0.0.1:8/activities/1", type="Create", payload="{}")
                activity.actor_id = actor.id
                session.add(activity)
                await session.flush()
                for inbox, (state, updated) in {**kept, **pruned}.items():
                    session.add(
                        Delivery(
                            activity_id=activity.id,
                            signer_id=actor.id,
                            inbox=inbox,
                            host="peer.example",
                            state=state.value,
                            updated_at=updated,
                        )
                    )
            count = await DeliveryWorker(fed).prune()
            async with fed.db.session() as session:
                left = set((await session.scalars(select(Delivery.inbox))).all())
            return count, left

    count, left = asyncio.run(run())
    assert count == len(pruned) and left == set(kept)
