"""Signing in: only same-site redirects afterwards; failed attempts throttled per account and per address (in the
database, so every process agrees), with a clear answer; a missing account costs as long as a wrong password."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest
import requests

from tests.harness import ROOT, csrf_of, free_port, wait_for
from tests.mastodon_client import register

PASSWORD = "correct horse"


def login(
    instance,
    username: str,
    password: str,
    next_: str = "/spaces",
    address: str | None = None,
    base: str | None = None,
) -> requests.Response:
    """One browser's sign-in through the form (from `address`, as a trusted proxy on loopback would say)."""
    browser = requests.Session()
    base = base or instance.base_url
    form = browser.get(f"{base}/login", timeout=10).text
    headers = {"X-Forwarded-For": address} if address else {}
    return browser.post(
        f"{base}/login",
        data={"username": username, "password": password, "next": next_, "csrf": csrf_of(form)},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )


@pytest.fixture
def forum(instances):
    a = instances.new("a", login_failures_per_account=3, login_failures_per_address=5)
    a.movement("landrights")
    a.member("ana", "landrights")
    a.member("bob", "landrights")
    return a


def test_after_sign_in_only_a_path_of_this_site_is_followed(forum):
    for next_ in [
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/\n/evil.example",
        "javascript:alert(1)",
        "/ /evil.example",
        "/\x7f/evil.example",
    ]:
        answer = login(forum, "ana", PASSWORD, next_)
        assert answer.status_code == 303 and answer.headers["Location"] == "/spaces", next_


def test_after_sign_in_the_page_asked_for_is_shown(forum):
    answer = login(forum, "ana", PASSWORD, "/spaces/assembly?page=2")
    assert answer.headers["Location"] == "/spaces/assembly?page=2"


def test_the_login_form_never_carries_a_foreign_next(forum):
    page = requests.get(forum.url("/login?next=/%09/evil.example"), timeout=10).text
    assert 'name="next" value="/spaces"' in page


def test_an_account_is_locked_after_its_failures_even_from_new_addresses(forum):
    for n in range(3):
        assert login(forum, "ana", "wrong", address=f"203.0.113.{n}").status_code == 401
    refused = login(forum, "ana", PASSWORD, address="203.0.113.99")
    assert refused.status_code == 429
    assert "Too many sign-in attempts: try again in 15 minutes." in refused.text
    assert 840 <= int(refused.headers["Retry-After"]) <= 900
    assert login(forum, "bob", PASSWORD, address="203.0.113.99").status_code == 303  # others sign in


def test_an_address_is_throttled_across_accounts(forum):
    for n in range(5):
        assert login(forum, f"nobody{n}", "wrong", address="198.51.100.7").status_code == 401
    assert login(forum, "bob", PASSWORD, address="198.51.100.7").status_code == 429
    assert login(forum, "bob", PASSWORD, address="198.51.100.8").status_code == 303


def test_a_success_clears_the_accounts_failures(forum):
    for _ in range(2):
        login(forum, "ana", "wrong")
    assert login(forum, "ana", PASSWORD).status_code == 303
    for _ in range(2):
        assert login(forum, "ana", "wrong").status_code == 401


def test_the_password_grant_is_throttled_with_429_and_retry_after(forum):
    client_id, secret = register(forum, ["read"])
    grant = {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": secret,
        "scope": "read",
        "username": "ana",
    }
    for _ in range(3):
        answer = requests.post(forum.url("/oauth/token"), data={**grant, "password": "wrong"}, timeout=10)
        assert answer.status_code == 400
    answer = requests.post(forum.url("/oauth/token"), data={**grant, "password": PASSWORD}, timeout=10)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert answer.json()["error_description"].startswith("Too many sign-in attempts: try again in")
    assert login(forum, "ana", PASSWORD).status_code == 429  # the same count as the pages


def test_a_second_process_on_the_same_database_counts_the_same_failures(forum):
    """Two `serve` processes of one instance (as behind a proxy) share the failures: the table is in the database."""
    port = free_port()
    log = open(forum.data.parent / "second.log", "ab")
    second = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "--data", str(forum.data), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        other = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(other), timeout=40, what="the second process")
        for _ in range(2):
            assert login(forum, "ana", "wrong").status_code == 401
        assert login(forum, "ana", "wrong", base=other).status_code == 401
        assert login(forum, "ana", PASSWORD, base=other).status_code == 429
        assert login(forum, "ana", PASSWORD).status_code == 429
    finally:
        second.terminate()
        second.wait(10)
        log.close()


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/.well-known/nodeinfo", timeout=1).ok
    except requests.RequestException:
        return False


def test_a_missing_account_costs_as_long_as_a_wrong_password(instances):
    # Hashes of a real cost (OWASP's least for Argon2id): with the suite's cheap ones a sign-in takes ~1 ms
    # of hashing and a loaded machine's noise decides the ratio.
    a = instances.new(
        "a",
        login_failures_per_account=100,
        login_failures_per_address=100,
        password_time_cost=2,
        password_memory_kib=19456,
    )
    a.movement("landrights")
    a.member("ana", "landrights")

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert login(a, username, "wrong").status_code == 401
        return time.perf_counter() - started

    timed("ana"), timed("ghost")  # warm both paths
    wrong = statistics.median(timed("ana") for _ in range(7))
    missing = statistics.median(timed("ghost") for _ in range(7))
    assert 0.5 < missing / wrong < 2.0, (missing, wrong)  # it was 0.04 (5 ms against 126 ms)
