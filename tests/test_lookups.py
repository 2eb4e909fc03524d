"""Fast unit tests of the lookups in models/ (actor, object and activity by id, local actor by name, follows,
agreements by URL), on a throwaway SQLite database holding the models' tables."""

from __future__ import annotations

import asyncio

import pytest

from federation.agreements.store import agreement_by_uri, proposal_by_uri
from models import Activity, Actor, Base, Database, Follow, Key, Object
from models.actor import (
    actor_by_handle,
    actor_by_uri,
    actors_by_uris,
    local_actor,
    local_actor_by_uri,
    local_movement,
    local_person,
    newest_private_key,
)
from models.agreement import Proposal
from models.content import activity_by_uri, local_activity_by_uri, local_object_by_uri, object_by_uri
from models.follow import follow_between

HERE, THERE = "http://127.0.0.1:8001", "https://b.example"


def _actor(uri: str, username: str, host: str, local: bool, type_: str = "Group", **fields) -> Actor:
    return Actor(
        uri=uri,
        username=username,
        host=host,
        local=local,
        type=type_,
        inbox=uri + "/inbox",
        outbox=uri + "/outbox",
        followers_url=uri + "/followers",
        following_url=uri + "/following",
        **fields,
    )


async def _seed(db: Database) -> None:
    async with db.session() as session:
        rivers = _actor(f"{HERE}/actors/rivers", "rivers", "127.0.0.1:8001", True)
        session.add(rivers)
        await session.flush()
        session.add_all(
            [
                _actor(f"{HERE}/actors/ana", "ana", "127.0.0.1:8001", True, "Person", movement_id=rivers.id),
                _actor(f"{THERE}/actors/rivers", "rivers", "b.example", False),
                Object(uri=f"{HERE}/objects/1", type="Note", local=True, content="here", document={}),
                Object(uri=f"{THERE}/objects/1", type="Note", local=False, content="there", document={}),
                Activity(
                    uri=f"{HERE}/activities/1", type="Create", actor_id=rivers.id, local=True, payload="{}"
                ),
                Activity(
                    uri=f"{THERE}/activities/1", type="Create", actor_id=rivers.id, local=False, payload="{}"
                ),
                Key(
                    uri=f"{HERE}/actors/rivers#old", actor_id=rivers.id, kind="rsa", public="p1", private="s1"
                ),
                Key(
                    uri=f"{HERE}/actors/rivers#main-key",
                    actor_id=rivers.id,
                    kind="rsa",
                    public="p2",
                    private="s2",
                ),
                Key(
                    uri=f"{HERE}/actors/rivers#ed25519-key",
                    actor_id=rivers.id,
                    kind="ed25519",
                    public="z",
                    private=None,
                ),
                Proposal(
                    uri=f"{THERE}/proposals/1",
                    agreement_uri=f"{THERE}/agreements/1",
                    local=False,
                    author_uri=f"{THERE}/actors/rivers",
                    title="Water",
                    state="open",
                ),
            ]
        )
        await session.flush()
        there = await actor_by_uri(session, f"{THERE}/actors/rivers")
        session.add(
            Follow(
                follower_id=rivers.id,
                followee_id=there.id,
                activity_uri=f"{HERE}/activities/f",
                state="accepted",
            )
        )


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('lookups') / 'db.sqlite'}")

    async def prepare():
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        await _seed(database)

    asyncio.run(prepare())
    yield database
    asyncio.run(database.close())


def _run(db: Database, lookup, *args):
    async def go():
        async with db.session() as session:
            return await lookup(session, *args)

    return asyncio.run(go())


def test_actors_are_found_by_id_local_or_not(db):
    assert _run(db, actor_by_uri, f"{THERE}/actors/rivers").host == "b.example"
    assert _run(db, actor_by_uri, f"{THERE}/actors/nobody") is None
    assert _run(db, local_actor_by_uri, f"{HERE}/actors/rivers").local
    assert _run(db, local_actor_by_uri, f"{THERE}/actors/rivers") is None


def test_several_actors_come_in_one_lookup_and_none_costs_nothing(db):
    found = _run(db, actors_by_uris, [f"{HERE}/actors/rivers", f"{THERE}/actors/rivers", f"{THERE}/x"])
    assert sorted(a.uri for a in found) == [f"{HERE}/actors/rivers", f"{THERE}/actors/rivers"]
    assert _run(db, actors_by_uris, []) == []


def test_a_name_means_the_local_actor_and_a_handle_the_remote_one(db):
    assert _run(db, local_actor, "rivers").uri == f"{HERE}/actors/rivers"
    assert _run(db, actor_by_handle, "rivers", "b.example").uri == f"{THERE}/actors/rivers"
    assert _run(db, local_person, "ana").type == "Person"
    assert _run(db, local_person, "rivers") is None  # a movement cannot sign in
    assert _run(db, local_movement, "rivers").type == "Group"
    assert _run(db, local_movement, "ana") is None


def test_objects_and_activities_are_found_by_id(db):
    assert _run(db, object_by_uri, f"{THERE}/objects/1").content == "there"
    assert _run(db, local_object_by_uri, f"{HERE}/objects/1").content == "here"
    assert _run(db, local_object_by_uri, f"{THERE}/objects/1") is None
    assert _run(db, activity_by_uri, f"{THERE}/activities/1").local is False
    assert _run(db, local_activity_by_uri, f"{THERE}/activities/1") is None


def test_the_newest_private_key_of_a_kind_signs(db):
    rivers = _run(db, local_actor, "rivers")
    assert _run(db, newest_private_key, rivers.id, "rsa").uri.endswith("#main-key")
    assert _run(db, newest_private_key, rivers.id, "ed25519") is None  # no private part stored


def test_a_follow_is_found_between_two_actors_in_its_direction(db):
    here, there = _run(db, local_actor, "rivers"), _run(db, actor_by_handle, "rivers", "b.example")
    assert _run(db, follow_between, here.id, there.id).state == "accepted"
    assert _run(db, follow_between, there.id, here.id) is None


def test_an_agreement_is_found_by_its_own_url(db):
    assert _run(db, agreement_by_uri, f"{THERE}/agreements/1").title == "Water"
    assert _run(db, agreement_by_uri, f"{THERE}/proposals/1") is None
    assert _run(db, agreement_by_uri, None) is None
    assert _run(db, proposal_by_uri, f"{THERE}/agreements/1 ").uri == f"{THERE}/proposals/1"
