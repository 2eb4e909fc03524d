"""Fast unit tests of the lifecycles: every entry of the proposals' and follows' TRANSITIONS tables is
allowed, and every other (state, event) pair is refused."""

from __future__ import annotations

import itertools

import pytest

from federation.agreements.lifecycle import allowed_next
from federation.refusal import Refusal
from models.agreement import TRANSITIONS as PROPOSAL_TRANSITIONS
from models.agreement import State, TransitionError, allows, next_state
from models.follow import (
    TRANSITIONS as FOLLOW_TRANSITIONS,
)
from models.follow import (
    Follow,
    FollowState,
    follow_allows,
    move_follow,
    next_follow_state,
)

PROPOSAL_EVENTS = sorted({event for _, event in PROPOSAL_TRANSITIONS})
PROPOSAL_REFUSED = [
    (state, event)
    for state, event in itertools.product(State, PROPOSAL_EVENTS)
    if (state, event) not in PROPOSAL_TRANSITIONS
]
FOLLOW_EVENTS = sorted({event for _, event in FOLLOW_TRANSITIONS})
FOLLOW_STATES = [None, *FollowState]
FOLLOW_REFUSED = [
    (state, event)
    for state, event in itertools.product(FOLLOW_STATES, FOLLOW_EVENTS)
    if (state, event) not in FOLLOW_TRANSITIONS
]


def _name(value) -> str:
    return "new" if value is None else getattr(value, "value", value)


# ---------------------------------------------------------------- proposals


@pytest.mark.parametrize(("state", "event"), list(PROPOSAL_TRANSITIONS), ids=lambda v: _name(v))
def test_a_proposal_moves_as_the_table_says(state, event):
    assert allows(state.value, event)
    assert next_state(state.value, event) is PROPOSAL_TRANSITIONS[(state, event)]
    assert allowed_next(state.value, event) is PROPOSAL_TRANSITIONS[(state, event)]


@pytest.mark.parametrize(("state", "event"), PROPOSAL_REFUSED, ids=lambda v: _name(v))
def test_a_proposal_refuses_what_the_table_does_not_list(state, event):
    assert not allows(state.value, event)
    with pytest.raises(TransitionError):
        next_state(state.value, event)
    with pytest.raises(Refusal) as refusal:
        allowed_next(state.value, event)
    assert refusal.value.status == 409
    assert refusal.value.message == f"cannot {event} a proposal that is {state.value.replace('_', ' ')}"


def test_every_proposal_state_but_the_final_ones_has_a_way_out():
    final = {state for state in State if not any(s is state for s, _ in PROPOSAL_TRANSITIONS)}
    assert final == {
        State.declined,
        State.withdrawn_by_author,
        State.expired,
        State.withdrawn_by_party,
        State.superseded,
    }


def test_an_unknown_proposal_state_is_refused():
    with pytest.raises(Refusal):
        allowed_next("haunted", "sign")


# ---------------------------------------------------------------- follows


@pytest.mark.parametrize(("state", "event"), list(FOLLOW_TRANSITIONS), ids=lambda v: _name(v))
def test_a_follow_moves_as_the_table_says(state, event):
    follow = Follow(follower_id=1, followee_id=2, activity_uri="https://a.example/follows/1")
    follow.state = state.value if state is not None else None
    assert follow_allows(follow.state, event)
    assert move_follow(follow, event) is FOLLOW_TRANSITIONS[(state, event)]
    assert follow.state == FOLLOW_TRANSITIONS[(state, event)].value


@pytest.mark.parametrize(("state", "event"), FOLLOW_REFUSED, ids=lambda v: _name(v))
def test_a_follow_refuses_what_the_table_does_not_list(state, event):
    follow = Follow(follower_id=1, followee_id=2, activity_uri="https://a.example/follows/1")
    follow.state = state.value if state is not None else None
    assert not follow_allows(follow.state, event)
    with pytest.raises(ValueError, match=f"cannot {event}"):
        move_follow(follow, event)
    assert follow.state == (state.value if state is not None else None)  # unchanged


def test_a_new_follow_only_starts_as_a_request():
    assert [event for event in FOLLOW_EVENTS if follow_allows(None, event)] == ["request"]
    assert next_follow_state(None, "request") is FollowState.pending


def test_only_a_pending_follow_can_be_approved_or_denied():
    for event in ("approve", "deny"):
        assert [s for s in FollowState if follow_allows(s.value, event)] == [FollowState.pending]


def test_an_automatic_accept_is_a_request_then_an_accept():
    follow = Follow(follower_id=1, followee_id=2, activity_uri="https://a.example/follows/1")
    for event, state in (
        ("request", "pending"),
        ("accept", "accepted"),
        ("request", "pending"),
        ("accept", "accepted"),
        ("reject", "rejected"),
        ("request", "pending"),
    ):
        move_follow(follow, event)
        assert follow.state == state
