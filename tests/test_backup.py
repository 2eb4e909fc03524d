"""A movement backs up its instance while it serves, loses the machine, restores the archive into a fresh
folder and serves the very same actors (same ids, same keys) with their posts and follows."""

import json
import tarfile

import pytest

from tests.harness import Instance, wait_for


def actor_keys(instance: Instance, name: str) -> tuple:
    document = instance.get_json(f"/actors/{name}").json()
    return (
        document["id"],
        document["publicKey"]["publicKeyPem"],
        tuple(k["publicKeyMultibase"] for k in document.get("assertionMethod", [])),
    )


@pytest.fixture
def story(instances, tmp_path):
    """Instance A: a movement, a member, a post, and a movement of instance B following A's movement."""
    a = instances.new("a")
    b = instances.new("b")
    a.movement("landrights")
    a.member("alice", "landrights")
    b.movement("farmers")
    b.cli("follow", "farmers", a.handle("landrights"))
    wait_for(lambda: b.following_state("farmers", a.url("/actors/landrights")) == "accepted", what="accepted")
    post = a.cli("post", "landrights", "Our first assembly is on Friday").out.strip()
    return a, b, post


def restored_copy(instances, a: Instance, archive, tmp_path) -> Instance:
    """A fresh folder (on PostgreSQL also a fresh database) restored from the archive, on A's port."""
    database_url = instances.pg.create(empty=True) if instances.pg else None
    restored = Instance(tmp_path / "restored", a.port, database_url)
    args = ["restore", str(archive)] + (["--database-url", database_url] if database_url else [])
    out = restored.cli(*args).out
    assert "restored" in out and a.base_url in out
    instances.instances.append(restored)
    return restored


def test_a_restored_backup_serves_the_same_actors_posts_and_follows(story, instances, tmp_path):
    a, b, post = story
    before = {name: actor_keys(a, name) for name in ("landrights", "alice")}
    archive = tmp_path / "backup.tar.gz"
    result = a.cli("backup", "--output", str(archive))
    assert archive.exists() and "keys and config" in result.out
    assert "100%" in result.err or "dumped" in result.err  # progress was shown
    a.stop()

    restored = restored_copy(instances, a, archive, tmp_path).start()
    assert {name: actor_keys(restored, name) for name in before} == before
    assert restored.get_json(post).json()["content"].find("first assembly") >= 0
    followers = restored.cli("followers", "landrights", "--json").lines
    assert [f["id"] for f in followers] == [b.url("/actors/farmers")]
    # B still reaches the restored movement: a post of the restored instance arrives at B.
    restored.cli("post", "landrights", "We are back")
    wait_for(
        lambda: any("We are back" in (p["content"] or "") for p in b.timeline("farmers")), what="post at B"
    )


def test_a_backup_holds_the_config_and_a_manifest(instances, tmp_path):
    a = instances.new("a", start=False)
    a.movement("landrights")
    archive = tmp_path / "backup.tar.gz"
    a.cli("backup", "--output", str(archive))
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())
        config = tar.extractfile("config.toml").read()
    assert {"manifest.json", "config.toml"} < names and names & {"database.sqlite", "database.pgdump"}
    assert manifest["base_url"] == a.base_url and manifest["tables"]["actors"] == 2
    assert config == (a.data / "config.toml").read_bytes()
    assert archive.stat().st_mode & 0o077 == 0  # keys inside: readable by the owner only


def test_restore_refuses_a_folder_that_holds_an_instance(instances, tmp_path):
    a = instances.new("a", start=False)
    archive = tmp_path / "backup.tar.gz"
    a.cli("backup", "--output", str(archive))
    result = a.cli("restore", str(archive), check=False)
    assert result.code == 1 and "already exists" in result.err


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    result = Instance(tmp_path / "new", 1, None).cli("restore", str(tmp_path / "junk.tar.gz"), check=False)
    assert result.code == 1 and "not an Interpeople backup" in result.err
    assert not (tmp_path / "new").exists()
