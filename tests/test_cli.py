"""The command line says clearly what went wrong, in one line, and leaves nothing half-done."""

import pytest

from federation.fetch import FetchError, GuardedResolver, check_url
from tests.fake_peer import FakePeer


def one_line_error(result, *words):
    assert result.code == 1, result
    assert result.err.count("\n") == 1 and result.err.startswith("interpeople: error:"), result.err
    for word in words:
        assert word in result.err, result.err


def test_init_refuses_to_overwrite_an_instance(instances):
    a = instances.new("a", start=False)
    one_line_error(a.cli("init", "--base-url", a.base_url, check=False), "already exists")


def test_init_refuses_plain_http_off_loopback(tmp_path):
    from tests.harness import Instance

    instance = Instance(tmp_path / "x", 1, None)
    one_line_error(
        instance.cli("init", "--base-url", "http://forum.example.org", check=False), "local testing"
    )
    assert not (tmp_path / "x").exists()


def test_unknown_local_actor(instances):
    a = instances.new("a", start=False)
    one_line_error(a.cli("post", "nobody", "hello", check=False), "nobody")


def test_unreachable_host(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    one_line_error(a.cli("follow", "landrights", "someone@127.0.0.1:9", check=False), "cannot resolve")
    assert a.cli("following", "landrights", "--json").lines == []


def test_unknown_remote_actor(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    peer = FakePeer("exists").start()
    try:
        one_line_error(
            a.cli("follow", "landrights", f"missing@127.0.0.1:{peer.port}", check=False), "does not exist"
        )
    finally:
        peer.stop()


def test_not_a_handle(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    one_line_error(a.cli("follow", "landrights", "not-a-handle", check=False), "name@host")


def test_a_short_password_is_refused(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    one_line_error(
        a.cli("member", "create", "bob", "--movement", "landrights", stdin="short\n", check=False), "8"
    )


def test_a_public_instance_refuses_to_fetch_loopback_addresses(tmp_path):
    from tests.harness import Instance

    peer = FakePeer("local").start()
    try:
        instance = Instance(tmp_path / "public", 1, None)
        instance.cli("init", "--base-url", "https://forum.example.org")
        instance.movement("landrights")
        one_line_error(instance.cli("follow", "landrights", peer.handle, check=False), "private address")
    finally:
        peer.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "file:///etc/passwd",
    ],
)
def test_outgoing_urls_off_limits_outside_local_testing(url):
    with pytest.raises(FetchError):
        check_url(url, allow_private=False)


def test_names_resolving_to_loopback_are_refused():
    import asyncio

    async def resolve():
        resolver = GuardedResolver(allow_private=False)
        try:
            await resolver.resolve("localhost", 443)
        finally:
            await resolver.close()

    with pytest.raises(OSError, match="private"):
        asyncio.run(resolve())


def test_a_usage_mistake_is_one_line(instances):
    a = instances.new("a", start=False)
    result = a.cli("member", "create", "bob", "--movement", "x", "--role", "king", check=False)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "invalid choice" in result.err
