"""Local testing with https: an instance serves TLS on 127.0.0.1 with a certificate of a test CA; a peer that
trusts that CA (tls_ca_file) looks its handles up over https first, and plain-http peers still work."""

import pytest
import trustme

from tests.harness import FAST_SETTINGS, Instance, free_port, wait_for


@pytest.fixture
def test_ca(tmp_path, monkeypatch):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(paths["ca"]))  # the harness's own requests trust it too
    return paths


def tls_instance(instances, tmp_path, test_ca) -> Instance:
    """An instance whose base URL is https://127.0.0.1:PORT, serving TLS itself."""
    database_url = instances.pg.create() if instances.pg else None
    instance = Instance(tmp_path / "tls", free_port(), database_url)
    instance.base_url = f"https://127.0.0.1:{instance.port}"
    instance.init(
        tls_cert_file=str(test_ca["cert"]),
        tls_key_file=str(test_ca["key"]),
        tls_ca_file=str(test_ca["ca"]),
        **FAST_SETTINGS,
    )
    instances.instances.append(instance)
    return instance.start()


def test_a_peer_trusting_the_test_ca_follows_a_movement_served_over_https(instances, tmp_path, test_ca):
    a = tls_instance(instances, tmp_path, test_ca)
    a.movement("landrights")
    b = instances.new("b", tls_ca_file=str(test_ca["ca"]))
    b.movement("farmers")
    out = b.cli("follow", "farmers", a.handle("landrights")).out
    assert f"https://127.0.0.1:{a.port}/actors/landrights" in out
    wait_for(lambda: b.following_state("farmers", a.url("/actors/landrights")) == "accepted", what="accepted")


def test_the_https_instance_still_finds_a_plain_http_peer(instances, tmp_path, test_ca):
    a = tls_instance(instances, tmp_path, test_ca)
    a.movement("landrights")
    b = instances.new("b", tls_ca_file=str(test_ca["ca"]))  # to check A's signatures B fetches A's key
    b.movement("farmers")
    a.cli("follow", "landrights", b.handle("farmers"))
    wait_for(lambda: a.following_state("landrights", b.url("/actors/farmers")) == "accepted", what="accepted")


def test_without_the_test_ca_the_handle_lookup_fails_clearly(instances, tmp_path, test_ca):
    a = tls_instance(instances, tmp_path, test_ca)
    a.movement("landrights")
    b = instances.new("b", start=False)
    b.movement("farmers")
    result = b.cli("follow", "farmers", a.handle("landrights"), check=False)
    assert result.code == 1 and result.err.count("\n") == 1, result
    assert "certificate" in result.err.lower(), result.err
