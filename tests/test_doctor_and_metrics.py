"""An operator asks `interpeople doctor` how the instance looks from outside; Prometheus scrapes /metrics."""

import re

import requests

from tests.harness import wait_for

CHECKS = ["base URL", "webfinger", "nodeinfo", "clock", "database", "deliveries", "inbox", "disk"]


def doctor_lines(result) -> dict[str, str]:
    lines = {}
    for line in result.out.splitlines():
        match = re.match(r"(ok|warn|fail)\s+(base URL|\S+)\s+(.*)", line)
        assert match, line
        lines[match.group(2)] = match.group(1) + " " + match.group(3)
    return lines


def test_doctor_finds_a_serving_instance_healthy(instances):
    a = instances.new("a")
    a.movement("landrights")
    result = a.cli("doctor")
    lines = doctor_lines(result)
    assert list(lines) == CHECKS
    assert all(line.startswith("ok ") for line in lines.values()), result.out
    assert "local-testing mode: checked over http" in lines["base URL"]
    assert f"landrights@{a.host} -> {a.url('/actors/landrights')}" in lines["webfinger"]


def test_doctor_fails_when_the_base_url_does_not_answer(instances):
    a = instances.new("a", start=False)
    result = a.cli("doctor", "--timeout", "3", check=False)
    lines = doctor_lines(result)
    assert result.code == 1 and "base URL" in result.err
    assert lines["base URL"].startswith("fail ") and lines["database"].startswith("ok ")


def test_doctor_warns_about_deliveries_nobody_sends(instances):
    a = instances.new("a", start=False)
    a.movement("landrights")
    a.cli("post", "landrights", "nobody is delivering this")
    a.sql(
        "INSERT INTO deliveries (activity_id, signer_id, inbox, host, state, attempts, next_attempt_at, "
        "created_at, updated_at) "
        "SELECT a.id, a.actor_id, 'https://peer.example/inbox', 'peer.example', 'queued', 0, "
        "'2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-01 00:00:00' FROM activities a LIMIT 1"
    )
    lines = doctor_lines(a.cli("doctor", "--timeout", "3", check=False))
    assert lines["deliveries"].startswith("fail 1 due") and "is `serve` running?" in lines["deliveries"]


def metrics_of(a, **kwargs) -> str:
    response = requests.get(a.url("/metrics"), timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.text


def sample(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_by_kind_and_status_and_deliveries_by_state(instances):
    a = instances.new("a")
    b = instances.new("b")
    a.movement("landrights")
    b.movement("farmers")
    b.cli("follow", "farmers", a.handle("landrights"))
    a.get_json("/actors/nobody")
    a.cli("post", "landrights", "counted")
    wait_for(
        lambda: sample(metrics_of(a), "interpeople_deliveries", state="delivered") == 2, what="delivered"
    )
    text = metrics_of(a)
    assert sample(text, "interpeople_http_requests_total", kind="inbox", status="202") >= 1
    assert sample(text, "interpeople_http_requests_total", kind="discovery", status="200") >= 1
    assert sample(text, "interpeople_http_requests_total", kind="activitypub", status="404") == 1
    assert sample(text, "interpeople_deliveries", state="failed") == 0
    assert "interpeople_deliveries_due_oldest_seconds 0.0" in text


def test_metrics_are_refused_to_proxied_requests(instances):
    a = instances.new("a")
    response = requests.get(a.url("/metrics"), headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
    assert response.status_code == 403


def test_a_metrics_token_opens_metrics_to_a_bearer_only(instances):
    a = instances.new("a", metrics_token="s3cret-scrape-token")
    assert requests.get(a.url("/metrics"), timeout=10).status_code == 403
    assert (
        requests.get(a.url("/metrics"), headers={"Authorization": "Bearer wrong"}, timeout=10).status_code
        == 403
    )
    text = metrics_of(a, headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert "interpeople_deliveries" in text


def test_the_inbox_journal_lag_shows_in_metrics_and_doctor(instances):
    a = instances.new("a")
    text = metrics_of(a)
    assert sample(text, "interpeople_inbox_journal_lag_seconds") == 0
    assert sample(text, "interpeople_inbox_entries", state="parked") == 0
    # An activity journaled long ago and waiting for a retry far in the future: the journal lags behind.
    a.journal(
        {"id": "https://peer.example/a/1", "type": "Create", "actor": "https://peer.example/u"},
        "retrying",
        order_key="https://peer.example/o/1",
        attempts=1,
        next_attempt="'2999-01-01 00:00:00'",
        received="'2020-01-01 00:00:00'",
    )
    text = metrics_of(a)
    assert sample(text, "interpeople_inbox_entries", state="retrying") == 1
    assert sample(text, "interpeople_inbox_journal_lag_seconds") > 3600 * 24 * 365
    lines = doctor_lines(a.cli("doctor", check=False))
    assert lines["inbox"].startswith("fail 1 waiting"), lines["inbox"]
