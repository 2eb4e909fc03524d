"""Fast unit tests of internal decisions: counting (quorum, threshold, block, objection, followers'
votes), the decisions' TRANSITIONS table, and the mandate check a receiving instance makes."""

from __future__ import annotations

import itertools

import pytest

from federation.decisions.counting import BLOCKED, FAILED, NO_QUORUM, PASSED, count, quorum_met
from federation.decisions.mandate import mandate_problem
from federation.proofs import content_hash
from models.decision import (
    DECISION_TRANSITIONS,
    DecisionState,
    DecisionTransitionError,
    next_decision_state,
)


def test_quorum_counts_abstentions_against_the_whole_membership():
    assert quorum_met(2, 4, 0.5) and not quorum_met(1, 4, 0.5)
    assert not quorum_met(0, 0, 0.0), "a movement without members cannot decide"
    assert count("agree", ["abstain", "abstain", "agree"], 6, 0.5, 0.5).outcome == PASSED


def test_without_quorum_nothing_passes():
    tally = count("consent", ["consent"], 5, 0.5, 0.5)
    assert tally.outcome == NO_QUORUM and "1 of 5" in tally.reason


def test_one_objection_stops_a_consent_decision():
    assert count("consent", ["consent"] * 4, 5, 0.5, 0.5).outcome == PASSED
    assert count("consent", ["consent"] * 3 + ["object"], 5, 0.5, 0.5).outcome == BLOCKED


def test_one_block_stops_an_agree_decision_whatever_the_majority():
    assert count("agree", ["agree"] * 9 + ["block"], 10, 0.5, 0.5).outcome == BLOCKED


def test_the_threshold_is_a_share_of_agree_and_disagree_and_a_tie_fails():
    assert count("agree", ["agree", "disagree"], 2, 0.5, 0.5).outcome == FAILED
    assert count("agree", ["agree", "agree", "disagree"], 3, 0.5, 0.5).outcome == PASSED
    assert count("agree", ["agree", "agree", "disagree"], 3, 0.5, 0.7).outcome == FAILED
    assert count("agree", ["abstain", "abstain"], 2, 0.5, 0.5).outcome == FAILED


def test_followers_votes_are_reported_but_do_not_decide():
    tally = count("agree", ["agree", "agree"], 2, 0.5, 0.5, ["block", "disagree", "disagree"])
    assert tally.outcome == PASSED and tally.followers["block"] == 1 and tally.counts["block"] == 0


def test_unknown_choices_are_not_counted():
    assert count("consent", ["maybe", "consent"], 2, 0.5, 0.5).voters == 1


EVENTS = sorted({event for _, event in DECISION_TRANSITIONS})
REFUSED = [
    (state, event)
    for state, event in itertools.product(DecisionState, EVENTS)
    if (state, event) not in DECISION_TRANSITIONS
]


@pytest.mark.parametrize(("state", "event"), list(DECISION_TRANSITIONS))
def test_every_listed_decision_transition_is_allowed(state, event):
    assert next_decision_state(state.value, event) == DECISION_TRANSITIONS[(state, event)]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_decision_transition_is_refused(state, event):
    with pytest.raises(DecisionTransitionError):
        next_decision_state(state.value, event)


def test_only_an_open_decision_takes_votes_and_closing_is_final():
    assert next_decision_state("open", "vote") == DecisionState.open
    for final in ("closed", "void", "cancelled"):
        with pytest.raises(DecisionTransitionError):
            next_decision_state(final, "vote")


RECORD = {
    "id": "https://b.example/decisions/1",
    "type": "Question",
    "attributedTo": "https://b.example/actors/fishers",
    "proposal": "https://a.example/proposals/1",
    "version": "ab" * 32,
    "closed": "2026-12-05T10:00:00Z",
    "outcome": "passed",
}


def check(record, digest=None, signer="https://b.example/actors/fishers", version="ab" * 32):
    return mandate_problem(
        record, digest or (content_hash(record) if record else "x"), signer, RECORD["proposal"], version
    )


def test_a_passing_outcome_of_the_signer_on_that_version_is_a_mandate():
    assert check(RECORD) is None


def test_mandate_refusals_say_why():
    assert "does not exist" in check(None)
    assert "digest" in check(RECORD, digest="00" * 32)
    assert "says failed" in check(RECORD | {"outcome": "failed"})
    assert "not a decision of the signing movement" in check(RECORD, signer="https://c.example/actors/x")
    assert "another proposal or version" in check(RECORD, version="cd" * 32)
    assert "not closed" in check({k: v for k, v in RECORD.items() if k != "closed"})
