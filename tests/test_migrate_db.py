"""A movement outgrows one process: `migrate-db` moves its SQLite instance to PostgreSQL, and it serves the
same actors, keys, posts and follows from there."""

import os

import pytest

from tests.harness import PG_ENV, InstanceFactory, PostgresDatabases, wait_for

pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason=f"migrate-db needs a PostgreSQL server: set {PG_ENV}=postgresql://..."
)


@pytest.fixture
def sqlite_instances(tmp_path):
    factory = InstanceFactory(tmp_path, "sqlite", preloaded=True)
    yield factory
    factory.close()


@pytest.fixture
def pg():
    databases = PostgresDatabases(os.environ[PG_ENV])
    yield databases
    databases.drop_all()


def actor_keys(instance, name: str) -> tuple:
    document = instance.get_json(f"/actors/{name}").json()
    return document["id"], document["publicKey"]["publicKeyPem"]


def test_an_instance_moved_to_postgresql_serves_the_same_actors_and_keeps_federating(sqlite_instances, pg):
    a = sqlite_instances.new("a")
    b = sqlite_instances.new("b")
    a.movement("landrights")
    a.member("alice", "landrights")
    b.movement("farmers")
    b.cli("follow", "farmers", a.handle("landrights"))
    wait_for(lambda: b.following_state("farmers", a.url("/actors/landrights")) == "accepted", what="accepted")
    post = a.cli("post", "landrights", "Before the move").out.strip()
    before = {name: actor_keys(a, name) for name in ("landrights", "alice")}
    a.stop()

    target = pg.create()
    result = a.cli("migrate-db", "--to", target)
    assert "row counts verified" in result.out and "copying actors: 100%" in result.err
    assert a.effective_database_url == target
    a.start()
    assert {name: actor_keys(a, name) for name in before} == before
    assert "Before the move" in a.get_json(post).json()["content"]
    assert [f["id"] for f in a.cli("followers", "landrights", "--json").lines] == [b.url("/actors/farmers")]
    a.movement("newcomers")  # new rows get fresh ids: the sequences continue after the copied ones
    a.cli("post", "landrights", "After the move")
    wait_for(
        lambda: any("After the move" in (p["content"] or "") for p in b.timeline("farmers")), what="post at B"
    )


def test_migrate_db_refuses_a_database_that_holds_data(sqlite_instances, pg):
    a = sqlite_instances.new("a", start=False)
    a.movement("landrights")
    target = pg.create()
    a.cli("migrate-db", "--to", target)
    other = sqlite_instances.new("other", start=False)
    result = other.cli("migrate-db", "--to", target, check=False)
    assert result.code == 1 and "already holds data" in result.err
    assert other.effective_database_url.startswith("sqlite:///")


def test_migrate_db_refuses_a_target_that_is_not_postgresql(sqlite_instances):
    a = sqlite_instances.new("a", start=False)
    result = a.cli("migrate-db", "--to", "mysql://root@127.0.0.1/interpeople", check=False)
    assert result.code == 1 and "mysql" in result.err
