"""Fast unit tests of the status entity cache (server/mastodon/status_cache.py) on a plain SQLite file: the
JSON written from cached parts says what the dicts say, every change a reader must see shows at once (an
undone older boost within COUNT_TTL), the cache stays within its limit, and lean statements (models/lean.py)
read what SQLAlchemy reads."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import bindparam, create_engine, delete, insert, select, update

import models  # noqa: F401  (every table registered)
from models import Actor, Follow, Object, utcnow
from models.base import Base
from models.interaction import Favourite
from models.lean import Lean, json_list
from server.lru import Lru
from server.mastodon import status_cache
from server.mastodon.status_cache import cache_for, status_rows, statuses_dicts, statuses_json

BASE = "http://127.0.0.1:1"


@pytest.fixture
def conn(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    status_cache._CACHES.clear()
    with engine.begin() as connection:
        connection.execute(
            insert(Actor),
            [
                {
                    "id": i,
                    "uri": f"http://x/users/{n}",
                    "type": "Person",
                    "local": i == 1,
                    "username": n,
                    "host": "x",
                    "name": n.title(),
                    "auto_accept": True,
                    "document": {"id": f"http://x/users/{n}"},
                    "created_at": utcnow(),
                }
                for i, n in ((1, "reader"), (2, "ana"), (3, "bo"))
            ],
        )
        connection.execute(
            insert(Follow),
            [
                {
                    "follower_id": 1,
                    "followee_id": 2,
                    "state": "accepted",
                    "activity_uri": "urn:f",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            ],
        )
        for row in [
            {
                "id": 10,
                "uri": "http://x/o/10",
                "type": "Note",
                "attributed_to_id": 2,
                "content": "<p>seeds</p>",
                "public": True,
                "visibility": "public",
                "published": utcnow(),
                "document": {
                    "id": "http://x/o/10",
                    "tag": [
                        {"type": "Hashtag", "name": "#Land"},
                        {"type": "Mention", "href": "http://x/users/bo"},
                    ],
                },
            },
            {
                "id": 11,
                "uri": "http://x/o/11",
                "type": "Note",
                "attributed_to_id": 3,
                "content": "<p>re</p>",
                "in_reply_to": "http://x/o/10",
                "public": True,
                "published": utcnow(),
                "document": {"to": []},
            },
            {
                "id": 12,
                "uri": "http://x/a/12",
                "type": "Announce",
                "attributed_to_id": 3,
                "reblog_of_id": 10,
                "public": True,
                "visibility": "public",
                "published": utcnow(),
                "document": {},
            },
        ]:
            connection.execute(insert(Object).values(**row))
        yield connection
    engine.dispose()


def both(conn, ids: list[int], viewer: int = 1) -> list[dict]:
    dicts = statuses_dicts(conn, BASE, viewer, ids)
    text, shown = statuses_json(conn, BASE, viewer, list(status_rows(conn, ids).values()))
    by_id = {d["id"]: d for d in dicts}
    assert {d["id"]: d for d in json.loads(text)} == by_id
    return dicts


def test_the_json_written_from_cached_parts_equals_the_dicts(conn):
    found = both(conn, [10, 11, 12])
    note, reply, boost = found
    assert note["tags"] == [{"name": "land", "url": f"{BASE}/tags/land"}]
    assert note["mentions"][0]["acct"] == "bo@x"
    assert note["replies_count"] == 1 and note["reblogs_count"] == 1
    assert reply["in_reply_to_id"] == "10" and reply["in_reply_to_account_id"] == "2"
    assert boost["reblog"]["id"] == "10" and boost["account"]["username"] == "bo"
    assert note["account"]["followers_count"] == 1 and note["account"]["statuses_count"] == 1


def test_a_favourite_shows_in_the_count_and_as_the_viewers_flag_at_once(conn):
    both(conn, [10])
    conn.execute(
        insert(Favourite).values(actor_id=1, object_id=10, activity_uri="urn:like", created_at=utcnow())
    )
    [mine] = both(conn, [10], viewer=1)
    [theirs] = both(conn, [10], viewer=3)
    assert mine["favourites_count"] == 1 and mine["favourited"] is True
    assert theirs["favourites_count"] == 1 and theirs["favourited"] is False


def test_an_edit_made_elsewhere_replaces_the_cached_status(conn):
    both(conn, [10])
    conn.execute(update(Object).where(Object.id == 10).values(content="<p>edited</p>", updated=utcnow()))
    [note] = both(conn, [10])
    assert note["content"] == "<p>edited</p>" and note["edited_at"] is not None
    assert cache_for(BASE).misses >= 2


def test_a_new_display_name_replaces_the_cached_account(conn):
    both(conn, [10])
    conn.execute(update(Actor).where(Actor.id == 2).values(name="Ana Renamed"))
    [note] = both(conn, [10])
    assert note["account"]["display_name"] == "Ana Renamed"


def test_deleted_statuses_and_boosts_of_deleted_posts_are_left_out(conn):
    conn.execute(update(Object).where(Object.id == 10).values(deleted_at=utcnow()))
    assert [s["id"] for s in both(conn, [10, 11, 12])] == ["11"]


def test_a_removed_follow_lowers_the_followers_count(conn):
    both(conn, [10])
    conn.execute(delete(Follow))
    [note] = both(conn, [10])
    assert note["account"]["followers_count"] == 0


def test_a_new_or_deleted_status_changes_the_authors_statuses_count_at_once(conn):
    assert both(conn, [10])[0]["account"]["statuses_count"] == 1
    conn.execute(
        insert(Object).values(
            id=13, uri="http://x/o/13", type="Note", attributed_to_id=2, published=utcnow(), document={}
        )
    )
    assert both(conn, [10])[0]["account"]["statuses_count"] == 2
    conn.execute(update(Object).where(Object.id == 10).values(deleted_at=utcnow()))
    assert both(conn, [13])[0]["account"]["statuses_count"] == 1


def test_a_hard_deleted_older_boost_is_counted_out_within_count_ttl(conn, monkeypatch):
    conn.execute(
        insert(Object).values(
            id=13, uri="http://x/o/13", type="Note", attributed_to_id=3, published=utcnow(), document={}
        )
    )
    assert both(conn, [13])[0]["account"]["statuses_count"] == 3  # the reply, the boost, this note
    conn.execute(delete(Object).where(Object.id == 12))  # an undone boost: its row goes, the key stays
    assert both(conn, [13])[0]["account"]["statuses_count"] == 3  # counted again only after COUNT_TTL
    later = status_cache.clock() + status_cache.COUNT_TTL + 1
    monkeypatch.setattr(status_cache, "clock", lambda: later)
    assert both(conn, [13])[0]["account"]["statuses_count"] == 2


def test_a_boost_by_the_viewer_shows_as_reblogged_in_the_cached_json(conn):
    [boost] = both(conn, [12], viewer=3)
    assert boost["reblogged"] is True and boost["reblog"]["reblogged"] is True
    [boost] = both(conn, [12], viewer=1)
    assert boost["reblogged"] is False and boost["reblog"]["reblogs_count"] == 1


def test_the_cache_keeps_at_most_its_limit_dropping_the_least_recently_used(conn):
    cache = cache_for(BASE)
    cache.statuses.limit = cache.accounts.limit = 2
    both(conn, [10])
    both(conn, [11])
    assert len(cache.statuses) <= 2 and len(cache.accounts) <= 2
    assert list(cache.statuses) == [10, 11]
    both(conn, [10])  # used again: now the most recent
    assert list(cache.statuses) == [11, 10]


def test_an_lru_drops_the_least_recently_used_entry():
    kept = Lru(2)
    kept.keep("a", 1)
    kept.keep("b", 2)
    assert kept.used("a") == 1 and kept.used("missing") is None
    kept.keep("c", 3)
    assert dict(kept) == {"a": 1, "c": 3}


def test_lean_rows_on_sqlite3_are_sqlalchemys_rows(conn):
    statement = select(Object.id, Object.uri, Object.published).where(
        Object.id.in_(bindparam("ids", expanding=True)) | Object.uri.in_(bindparam("uris", expanding=True)),
        Object.published > bindparam("since"),
    )
    params = {"ids": [10, 12], "uris": ["http://x/o/11"], "since": utcnow() - dt.timedelta(hours=1)}
    lean = Lean(statement)
    assert conn.dialect.driver == "pysqlite"
    rows = sorted(lean.rows(conn, params))
    assert [r.id for r in rows] == [10, 11, 12] and rows[0].uri == "http://x/o/10"
    assert rows == sorted(tuple(r) for r in conn.execute(statement, params))
    assert lean.rows(conn, {**params, "ids": [], "uris": []}) == []


def test_lean_lists_are_json_arrays_of_ids_or_texts():
    assert json_list([3, 10]) == "[3,10]" and json_list(iter([])) == "[]"
    assert json.loads(json_list(['http://x/o/"1"', "é"])) == ['http://x/o/"1"', "é"]
