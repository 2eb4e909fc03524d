"""Counting a decision's votes: turnout against quorum, block and objection, agreement against threshold.

Pure functions: no database. Only members' votes decide; followers' votes on an open poll are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.decision import KINDS

PASSED, FAILED, NO_QUORUM, BLOCKED = "passed", "failed", "no_quorum", "blocked"


@dataclass
class Tally:
    outcome: str
    counts: dict[str, int]
    voters: int
    electorate: int
    followers: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "counts": self.counts,
            "voters": self.voters,
            "electorate": self.electorate,
            "followers": self.followers,
            "reason": self.reason,
        }


def quorum_met(voters: int, electorate: int, quorum: float) -> bool:
    """Enough members voted (abstentions count): voters / electorate reaches the quorum."""
    if electorate <= 0:
        return False
    return voters >= quorum * electorate - 1e-9


def count(
    kind: str,
    member_choices: list[str],
    electorate: int,
    quorum: float,
    threshold: float,
    follower_choices: list[str] = (),
) -> Tally:
    """The outcome of a poll of `kind` ("consent" or "agree").

    consent: passes with quorum and no objection. agree: a block stops it; otherwise it passes when more
    than `threshold` of the agree + disagree votes agree (abstentions count only for the quorum).
    """
    options = KINDS[kind]
    counts = {option: 0 for option in options}
    for choice in member_choices:
        if choice in counts:
            counts[choice] += 1
    followers = {option: 0 for option in options}
    for choice in follower_choices:
        if choice in followers:
            followers[choice] += 1
    voters = sum(counts.values())

    def tally(outcome: str, reason: str) -> Tally:
        return Tally(outcome, counts, voters, electorate, followers, reason)

    if not quorum_met(voters, electorate, quorum):
        return tally(NO_QUORUM, f"{voters} of {electorate} members voted; the quorum is {quorum:.0%}")
    if kind == "consent":
        if counts["object"]:
            return tally(BLOCKED, f"{counts['object']} objection(s)")
        return tally(PASSED, "consent without objection")
    if counts["block"]:
        return tally(BLOCKED, f"{counts['block']} block(s)")
    decided = counts["agree"] + counts["disagree"]
    share = counts["agree"] / decided if decided else 0.0
    if decided and share > threshold + 1e-9:
        return tally(PASSED, f"{share:.0%} agree; more than {threshold:.0%} needed")
    return tally(FAILED, f"{share:.0%} agree; more than {threshold:.0%} needed")
