"""Fast unit tests of the inbox journal's pure steps: its state table, ordering keys, backoff, the routing
table, and the bulk path storing the very rows the general path stores for the same Create."""

import asyncio
import datetime as dt
from types import SimpleNamespace

import pytest

from federation.journal import Claimed, Journal, Outcome, order_key
from federation.routing import RouteConflict, RoutingTable, routes
from models.inbox_entry import (
    CLAIMABLE,
    FINISHED,
    TRANSITIONS,
    UNFINISHED,
    InboxState,
    check_transition,
    sources_of,
)
from tests.federations import fresh_federation

S = InboxState
ALLOWED = [
    (source, target)
    for source, targets in TRANSITIONS.items()
    for target in sorted(targets, key=lambda t: t.value)
]


@pytest.mark.parametrize("source,target", ALLOWED, ids=[f"{s.value}->{t.value}" for s, t in ALLOWED])
def test_every_allowed_move_is_allowed(source, target):
    check_transition(source.value, target)
    assert source.value in sources_of(target)


def test_every_other_move_is_refused():
    for source in S:
        for target in set(S) - TRANSITIONS[source]:
            with pytest.raises(ValueError):
                check_transition(source.value, target)
            assert source.value not in sources_of(target)


def test_the_state_groups_follow_the_table():
    assert set(CLAIMABLE) == {"received", "retrying"}
    assert set(UNFINISHED) == {"received", "processing", "retrying"}
    assert set(FINISHED) | set(UNFINISHED) == {s.value for s in S}
    assert all(not TRANSITIONS[S(state)] - {S.received} for state in FINISHED)  # only an operator's retry


NOTE = "https://b.example/objects/1"


@pytest.mark.parametrize(
    "document,key",
    [
        ({"id": "a1", "type": "Create", "actor": "x", "object": {"id": NOTE, "type": "Note"}}, NOTE),
        ({"id": "a2", "type": "Update", "actor": "x", "object": {"id": NOTE, "type": "Note"}}, NOTE),
        ({"id": "a3", "type": "Delete", "actor": "x", "object": NOTE}, NOTE),
        ({"id": "a4", "type": "Like", "actor": "x", "object": NOTE}, NOTE),
        (
            {
                "id": "a5",
                "type": "Undo",
                "actor": "x",
                "object": {"id": "l", "type": "Like", "actor": "x", "object": NOTE},
            },
            NOTE,
        ),
        (
            {
                "id": "a6",
                "type": "Announce",
                "actor": "g",
                "object": {"id": "c", "type": "Create", "actor": "x", "object": {"id": NOTE, "type": "Note"}},
            },
            NOTE,
        ),
        ({"id": "a7", "type": "Flourish", "actor": "x"}, "a7"),
        (  # an embedded activity whose own id is no string, about nothing we can name (a fuzzer's find)
            {
                "id": "a8",
                "type": "Undo",
                "actor": "x",
                "object": {"id": {"id": 5}, "type": "Like", "actor": "x", "object": [3]},
            },
            "a8",
        ),
    ],
)
def test_entries_about_one_object_share_an_order_key(document, key):
    assert order_key(document) == key


def _journal(**settings) -> Journal:
    defaults = {"inbox_retry_base": 10.0, "inbox_max_attempts": 3, "inbox_lease": 60.0}
    return Journal(SimpleNamespace(settings=SimpleNamespace(**{**defaults, **settings})))


def test_a_failure_is_retried_with_growing_delays_then_parked():
    journal = _journal()
    delays = []
    for attempts in range(2):
        values = journal.outcome_values(Claimed(1, "a", None, "{}", attempts), Outcome(S.retrying, "boom"))
        assert (
            values["state"] == "retrying" and values["attempts"] == attempts + 1 and values["error"] == "boom"
        )
        delays.append((values["next_attempt_at"] - dt.datetime.now(dt.timezone.utc)).total_seconds())
    assert 8 < delays[0] < 12 and 16 < delays[1] < 24
    parked = journal.outcome_values(Claimed(1, "a", None, "{}", 2), Outcome(S.retrying, "boom"))
    assert parked["state"] == "parked" and parked["attempts"] == 3 and parked["processed_at"] is not None


def test_a_refusal_is_finished_with_its_message():
    values = _journal().outcome_values(Claimed(1, "a", None, "{}", 0), Outcome(S.refused, "forged", 403))
    assert values["state"] == "refused" and values["error"] == "forged" and values["processed_at"] is not None


# ---------------------------------------------------------------- the routing table


def test_the_routing_table_is_printed_and_holds_every_feature():
    table = routes()
    print("\n" + table.describe())
    rows = {(a, o, fn) for a, o, _, fn in table.rows()}
    for expected in [
        ("Create", "*", "inbox.on_create"),
        ("Follow", "*", "inbox.on_follow"),
        ("Announce", "*", "spaces.inbox.prepare_announce"),
        ("Announce", "Create", "spaces.inbox.on_space_announces_post"),
        ("Accept", "Agreement", "agreements.inbox.on_sign"),
        ("Create", "Proposal", "agreements.inbox.prepare"),
        ("Like", "*", "interaction_inbox.received_like"),
        ("Flag", "*", "spaces.inbox.space_takes_report"),
    ]:
        assert expected in rows, expected
    # the core's Announce fetcher is called by the spaces' preparer, not registered beside it
    assert [fn for a, o, role, fn in table.rows() if a == "Announce" and role.startswith("preparer")] == [
        "spaces.inbox.prepare_announce"
    ]
    assert table.plain_path("Create", "Note").__name__ == "on_create"  # plain posts may be stored in bulk
    assert table.plain_path("Announce", None) is None


def test_registering_a_key_twice_is_an_error():
    async def one(incoming): ...

    async def other(incoming): ...

    table = RoutingTable()
    table.handle("Create", None, one)
    with pytest.raises(RouteConflict):
        table.handle("Create", None, other)
    table.prepare("Announce", None, one)
    with pytest.raises(RouteConflict):
        table.prepare("Announce", None, other)
    table.observe("Like", one)
    with pytest.raises(RouteConflict):
        table.observe("Like", one)


# ---------------------------------------------------------------- bulk path == general path


def _rows_after(tmp_path, name: str, bulk: bool) -> dict:
    """Stores one Create{Note} (with a hashtag) from a remote actor followed by a local movement, through the
    bulk path or the general path, in a fresh SQLite database; the rows it made, without ids and times."""
    from sqlalchemy import text

    from federation.context import Federation
    from federation.inbox import Inbox
    from federation.inbox_batch import PlainPost, store_posts
    from federation.settings import Settings
    from federation.vocabulary import dumps
    from models import Actor, Database, Follow
    from models.migrate import upgrade

    poster = "http://127.0.0.1:9/actors/water"
    document = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{poster}/activities/1",
        "type": "Create",
        "actor": poster,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{poster}/followers"],
        "object": {
            "id": "http://127.0.0.1:9/objects/1",
            "type": "Note",
            "attributedTo": poster,
            "content": "<p>rivers <a href='#'>#clean</a><script>x</script></p>",
            "sensitive": False,
            "tag": [{"type": "Hashtag", "name": "#clean"}],
            "published": "2026-11-25T10:00:00Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{poster}/followers"],
        },
    }

    async def run() -> dict:
        url = f"sqlite:///{tmp_path / name}.db"
        db = Database(url)
        fed = Federation(Settings(base_url="http://127.0.0.1:8", database_url=url), db)
        try:
            await upgrade(db)
            async with db.session() as session:
                remote = Actor(
                    uri=poster,
                    type="Group",
                    username="water",
                    host="127.0.0.1:9",
                    local=False,
                    inbox=f"{poster}/inbox",
                    followers_url=f"{poster}/followers",
                )
                local = Actor(
                    uri="http://127.0.0.1:8/actors/land",
                    type="Group",
                    username="land",
                    host="127.0.0.1:8",
                    local=True,
                    inbox="http://127.0.0.1:8/actors/land/inbox",
                )
                session.add_all([remote, local])
                await session.flush()
                session.add(
                    Follow(
                        follower_id=local.id,
                        followee_id=remote.id,
                        state="accepted",
                        activity_uri="http://127.0.0.1:8/activities/f",
                    )
                )
            if bulk:
                answers = await db.run_in_transaction(
                    store_posts, [PlainPost(document, dumps(document), None)]
                )
                assert answers == [(202, "accepted")]
            else:
                async with db.session() as session:
                    actor = (
                        await session.execute(text("SELECT id FROM actors WHERE uri = :u"), {"u": poster})
                    ).one()
                    actor = await session.get(Actor, actor[0])
                await Inbox(fed).apply(document, actor, None)
            queries = {
                "activities": "SELECT uri, type, actor_id, local, object_uri FROM activities",
                "objects": "SELECT * FROM objects",
                "timeline": "SELECT owner_id, object_id, via_actor_id, activity_id FROM timeline_entries",
                "hashtags": "SELECT * FROM hashtags",
            }
            rows = {}
            async with db.session() as session:
                for table, query in queries.items():
                    result = await session.execute(text(query))
                    rows[table] = [
                        {k: v for k, v in row._mapping.items() if k not in ("id", "created_at")}
                        for row in result.all()
                    ]
            return rows
        finally:
            await fed.close()
            await db.close()

    return asyncio.run(run())


def test_the_bulk_path_and_the_general_path_store_the_same_rows_for_one_create(tmp_path):
    bulk, general = _rows_after(tmp_path, "bulk", True), _rows_after(tmp_path, "general", False)
    for table in ("activities", "objects", "timeline", "hashtags"):
        assert bulk[table] == general[table], table
    assert len(bulk["timeline"]) == 1 and len(bulk["objects"]) == 1 and len(bulk["hashtags"]) == 1


def test_entries_processed_long_ago_are_pruned_but_parked_and_recent_ones_stay(tmp_path):
    from sqlalchemy import func, select

    from models import InboxEntry, InboxPayload

    now = dt.datetime.now(dt.timezone.utc)
    old, recent = now - dt.timedelta(days=20), now - dt.timedelta(days=1)
    kept = {"parked-old": (S.parked, old), "done-recent": (S.done, recent), "waiting": (S.received, None)}
    pruned = {"done-old": (S.done, old), "refused-old": (S.refused, old)}

    async def run() -> tuple[int, set]:
        async with fresh_federation(tmp_path) as fed:
            async with fed.db.session() as session:
                for uri, (state, processed) in {**kept, **pruned}.items():
                    entry = InboxEntry(
                        activity_uri=uri,
                        activity_type="Create",
                        actor_uri="a",
                        order_key=uri,
                        state=state.value,
                        attempts=1,
                        next_attempt_at=now,
                        received_at=processed or now,
                        processed_at=processed,
                    )
                    session.add(entry)
                    await session.flush()
                    session.add(InboxPayload(entry_id=entry.id, payload="{}"))
            count = await Journal(fed).prune()
            async with fed.db.session() as session:
                left = set((await session.scalars(select(InboxEntry.activity_uri))).all())
                payloads = await session.scalar(select(func.count()).select_from(InboxPayload))
            return count, left, payloads

    count, left, payloads = asyncio.run(run())
    assert count == len(pruned) and left == set(kept)
    assert payloads == len(kept)  # a pruned entry's payload goes with it


class _BusyDatabase:
    """A database whose SQLite lock is not had the first `busy_times` times a batch is written."""

    def __init__(self, busy_times: int):
        self.busy_times = busy_times
        self.tries = 0

    async def run_in_transaction(self, fn, rows, payloads):
        import sqlite3

        self.tries += 1
        if self.tries <= self.busy_times:
            raise sqlite3.OperationalError("database is locked")
        return list(range(1, len(rows) + 1))


def _append_with(db) -> object:
    journal = Journal(SimpleNamespace(settings=None, db=db))
    document = {"id": "http://peer.example/a/1", "type": "Create", "actor": "http://peer.example/u"}

    async def append():
        try:
            return await journal.append(document, b"{}", None)
        except Exception as error:  # noqa: BLE001 -- the test looks at it
            return error

    return asyncio.run(append())


def test_an_append_meeting_a_busy_database_once_is_stored_on_the_second_try():
    db = _BusyDatabase(busy_times=1)
    assert _append_with(db) == 1 and db.tries == 2


def test_an_append_meeting_a_database_that_stays_busy_is_refused_503_so_the_sender_retries():
    from federation.refusal import Refusal

    answer = _append_with(_BusyDatabase(busy_times=5))
    assert isinstance(answer, Refusal) and answer.status == 503 and "not stored" in answer.message


def _worker_at_a_busy_door(watched: bool = False, lag: float = 0.0):
    from federation.inbox_worker import InboxWorker

    settings = SimpleNamespace(inbox_concurrency=4, inbox_give_way=0.2, inbox_max_lag=10.0)
    journal = SimpleNamespace(awaited=watched)
    inbox = SimpleNamespace(
        fed=SimpleNamespace(settings=settings), journal=journal, busy=lambda now, within: True
    )
    worker = InboxWorker(inbox)
    worker._lag = lag
    return worker


def _seconds_given_way(worker) -> float:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await worker._give_way()
        return loop.time() - started

    return asyncio.run(run())


def test_the_processor_gives_way_while_requests_are_being_answered():
    assert 0.15 < _seconds_given_way(_worker_at_a_busy_door()) < 1.0


def test_the_processor_does_not_give_way_when_a_request_waits_for_an_outcome():
    assert _seconds_given_way(_worker_at_a_busy_door(watched=True)) < 0.05


def test_the_processor_does_not_give_way_once_the_journal_lags_behind():
    assert _seconds_given_way(_worker_at_a_busy_door(lag=11.0)) < 0.05


def test_a_failure_records_where_it_was_raised():
    from federation.inbox_worker import failure_text

    def handler():
        return "id".get("type")

    try:
        handler()
    except AttributeError as error:
        text = failure_text(error)
    assert text.startswith("AttributeError: 'str' object has no attribute 'get' (at test_journal_units.py:")
    assert text.endswith(" in handler)")
