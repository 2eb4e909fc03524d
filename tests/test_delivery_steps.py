"""Fast unit tests of delivery's pure steps: verdict, backoff, Retry-After, give-up, and the transition table."""

import datetime as dt

import pytest

from federation.delivery import classify, next_state, retry_after_seconds, retry_delay
from models.delivery import TRANSITIONS, DeliveryState, check_transition, sources_of

S = DeliveryState
NOW = dt.datetime(2026, 12, 2, 3, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "status, error, verdict",
    [
        (200, None, "delivered"),
        (202, None, "delivered"),
        (204, None, "delivered"),
        (None, "cannot connect: refused", "retry"),
        (None, "no answer within 15s", "retry"),
        (500, "HTTP 500", "retry"),
        (502, "HTTP 502", "retry"),
        (503, "HTTP 503", "retry"),
        (429, "HTTP 429", "retry"),
        (408, "HTTP 408", "retry"),
        (400, "HTTP 400", "fail"),
        (401, "HTTP 401", "fail"),
        (403, "HTTP 403", "fail"),
        (404, "HTTP 404", "fail"),
        (410, "HTTP 410", "fail"),
        (413, "HTTP 413", "fail"),
        (301, "HTTP 301", "fail"),  # redirects are not followed for POSTs: the peer gave no inbox there
    ],
)
def test_an_answer_is_classified(status, error, verdict):
    assert classify(status, error) == verdict


def test_the_backoff_doubles_from_the_base_per_attempt():
    assert [retry_delay(n, 30, 21600) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_the_backoff_stops_growing_at_the_maximum():
    assert retry_delay(11, 30, 21600) == 21600
    assert retry_delay(500, 30, 21600) == 21600  # no overflow after very many attempts


def test_jitter_scales_the_backoff():
    assert retry_delay(2, 30, 21600, jitter=0.85) == pytest.approx(51)


def test_retry_after_replaces_the_backoff_without_jitter():
    assert retry_delay(1, 30, 21600, retry_after=5, jitter=1.15) == 5
    assert retry_delay(6, 30, 21600, retry_after=5) == 5  # even when the backoff would be longer


def test_retry_after_is_bounded_by_the_maximum_and_one_second():
    assert retry_delay(1, 30, 21600, retry_after=10**9) == 21600
    assert retry_delay(1, 30, 21600, retry_after=0) == 1


def test_retry_after_in_seconds_is_read():
    assert retry_after_seconds("120", NOW) == 120
    assert retry_after_seconds(" 7 ", NOW) == 7


def test_retry_after_as_an_http_date_is_read_against_now():
    assert retry_after_seconds("Wed, 02 Dec 2026 03:01:30 GMT", NOW) == 90
    assert retry_after_seconds("Wed, 02 Dec 2026 02:00:00 GMT", NOW) == 0  # already past


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2026"])
def test_an_absent_or_unreadable_retry_after_is_ignored(value):
    assert retry_after_seconds(value, NOW) is None


def test_a_delivered_row_is_delivered_whatever_its_age():
    assert next_state("delivered", 10**7, 216000) is S.delivered


def test_a_refusal_gives_up_at_once():
    assert next_state("fail", 0, 216000) is S.failed


def test_a_retry_is_retried_until_the_give_up_age():
    assert next_state("retry", 215999, 216000) is S.retrying
    assert next_state("retry", 216001, 216000) is S.failed


def test_every_state_has_an_entry_in_the_transition_table():
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize("source, target", [(s, t) for s in S for t in S])
def test_each_transition_is_allowed_exactly_when_the_table_says(source, target):
    allowed = target in TRANSITIONS[source]
    if allowed:
        check_transition(source.value, target)
    else:
        with pytest.raises(ValueError):
            check_transition(source.value, target)
    assert (source.value in sources_of(target)) == allowed


def test_every_state_the_worker_records_is_reachable_from_delivering():
    assert {next_state(v, 0, 1) for v in ("delivered", "retry", "fail")} <= TRANSITIONS[S.delivering]


def test_a_delivered_row_never_moves_again_and_a_failed_one_only_back_to_the_queue():
    assert TRANSITIONS[S.delivered] == frozenset()
    assert TRANSITIONS[S.failed] == frozenset({S.queued})
