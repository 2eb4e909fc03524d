"""A bad config.toml, database or port gets one clear line and a non-zero exit from the real command line;
a deleted database is never silently recreated."""

import os
import re
import socket
import subprocess
import sys
import tomllib

import pytest
import tomli_w

from tests.harness import ROOT, free_port


def interpeople(data, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "--data", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def assert_one_line(result, *words):
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and re.match(r"interpeople( [a-z-]+)?: error: ", lines[0]), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One initialised SQLite instance, copied for each case (init is the slow part)."""
    data = tmp_path_factory.mktemp("template") / "i"
    result = interpeople(data, "init", "--base-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result
    return data


@pytest.fixture
def instance(template, tmp_path):
    data = tmp_path / "i"
    data.mkdir()
    for name in os.listdir(template):
        (data / name).write_bytes((template / name).read_bytes())
    config = tomllib.loads((data / "config.toml").read_text())
    config["database_url"] = f"sqlite:///{data / 'interpeople.db'}"
    (data / "config.toml").write_text(tomli_w.dumps(config))
    return data


def set_config(data, **values):
    config = tomllib.loads((data / "config.toml").read_text())
    config.update(values)
    (data / "config.toml").write_text(tomli_w.dumps(config))


def test_a_word_for_a_number_is_refused(instance):
    set_config(instance, max_inbox_bytes="big")
    assert_one_line(interpeople(instance, "migrate"), "max_inbox_bytes", "integer", "'big'")


def test_a_misspelt_setting_is_named_with_what_was_meant(instance):
    set_config(instance, inbox_answer_wiat=0)
    assert_one_line(interpeople(instance, "migrate"), "'inbox_answer_wiat'", "did you mean inbox_answer_wait")


def test_a_negative_size_is_refused(instance):
    set_config(instance, max_inbox_bytes=-5)
    assert_one_line(interpeople(instance, "migrate"), "max_inbox_bytes", "-5")


def test_a_number_for_the_base_url_is_refused(instance):
    set_config(instance, base_url=5)
    assert_one_line(interpeople(instance, "migrate"), "base_url", "string")


def test_a_port_out_of_range_in_the_base_url_is_refused(instance):
    set_config(instance, base_url="http://127.0.0.1:99999")
    assert_one_line(interpeople(instance, "migrate"), "base URL", "out of range")


def test_serve_refuses_a_port_out_of_range(instance):
    assert_one_line(interpeople(instance, "serve", "--port", "99999"), "99999", "1-65535")


def test_a_config_that_is_not_utf8_is_refused(instance):
    path = instance / "config.toml"
    path.write_bytes(path.read_bytes() + b'title = "Mouvement \xe9tudiant"\n')
    assert_one_line(interpeople(instance, "migrate"), "not UTF-8")


def test_a_mysql_database_url_is_refused(instance):
    set_config(instance, database_url="mysql://root@127.0.0.1/interpeople")
    assert_one_line(interpeople(instance, "migrate"), "database_url", "mysql")


def test_a_garbled_database_url_is_refused(instance):
    set_config(instance, database_url="postgresql://user@host:notaport/db")
    assert_one_line(interpeople(instance, "migrate"), "database_url")


def test_a_sqlite_file_in_a_missing_folder_is_refused(instance, tmp_path):
    set_config(instance, database_url=f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    result = interpeople(instance, "serve")
    assert_one_line(result, "does not exist", "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_init_refuses_a_sqlite_file_in_a_missing_folder(tmp_path):
    url = f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}"
    result = interpeople(
        tmp_path / "new", "init", "--base-url", "http://127.0.0.1:8000", "--database-url", url
    )
    assert_one_line(result, "does not exist")
    assert not (tmp_path / "new").exists()


def test_a_deleted_database_is_not_recreated(instance):
    (instance / "interpeople.db").unlink()
    result = interpeople(instance, "serve")
    assert_one_line(result, "missing", "init")
    assert not (instance / "interpeople.db").exists()


def test_a_corrupt_database_is_refused(instance):
    for suffix in ("-wal", "-shm"):
        (instance / f"interpeople.db{suffix}").unlink(missing_ok=True)
    (instance / "interpeople.db").write_bytes(b"this is not a database" * 100)
    assert_one_line(interpeople(instance, "serve"), "database", "not a database")


def test_a_port_in_use_is_reported(instance):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line(interpeople(instance, "serve", "--port", str(port)), f"127.0.0.1:{port}", "in use")


def test_serve_refuses_a_missing_tls_certificate(instance, tmp_path):
    missing = tmp_path / "missing.pem"
    result = interpeople(instance, "serve", "--tls-cert", str(missing), "--tls-key", str(missing))
    assert_one_line(result, "TLS certificate", str(missing))
