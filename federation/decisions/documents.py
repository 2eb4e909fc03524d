"""A decision as JSON-LD: a FEP-9967 `Question` (what Mastodon shows as a poll), frozen into the outcome
record when it closes."""

from __future__ import annotations

import json

from federation.agreements.documents import document_context
from federation.content import markdown_to_html
from federation.proofs import canonical, content_hash
from federation.vocabulary import PUBLIC, iso
from models import Actor
from models.agreement import Proposal
from models.decision import KINDS, Decision


def question_document(
    base: str,
    decision: Decision,
    movement: Actor,
    proposal: Proposal | None,
    counts: dict[str, int] | None,
    voters: int | None,
) -> dict:
    """The decision as a Question; `counts` None while results are hidden until it closes."""
    link = f"\n\n[{proposal.title}]({proposal.uri})" if proposal else ""
    document = {
        "@context": document_context(base),
        "id": decision.uri,
        "type": "Question",
        "attributedTo": movement.uri,
        "name": decision.question,
        "content": markdown_to_html(decision.question + link),
        "url": decision.uri,
        "published": iso(decision.created_at),
        "endTime": iso(decision.closes_at),
        "oneOf": [
            {
                "type": "Note",
                "name": option,
                "replies": {"type": "Collection", "totalItems": (counts or {}).get(option, 0)},
            }
            for option in KINDS[decision.kind]
        ],
        "decisionKind": decision.kind,
        "quorum": decision.quorum,
        "threshold": decision.threshold,
        "electorate": decision.electorate,
        "membersOnly": decision.members_only,
        "to": [movement.uri] if decision.members_only else [PUBLIC],
        "cc": [] if decision.members_only else [movement.followers_url],
    }
    if voters is not None:
        document["votersCount"] = voters
    if proposal is not None:
        document["proposal"] = proposal.uri
        document["version"] = decision.version_hash
    return document


def outcome_record(document: dict, decision: Decision, tally: dict) -> tuple[str, str]:
    """The closed Question with its outcome, as canonical JSON, and that text's SHA-256 (the digest a
    mandate names)."""
    record = {
        **document,
        "closed": iso(decision.closed_at),
        "outcome": tally["outcome"],
        "outcomeReason": tally["reason"],
    }
    text = canonical(record).decode("utf-8")
    return text, content_hash(record)


def record_of(decision: Decision) -> dict | None:
    return json.loads(decision.record) if decision.record else None
