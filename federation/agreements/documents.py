"""Agreement documents: the JSON-LD context, immutable versions, the Proposal, the signed Agreement."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.ext.asyncio import AsyncSession

from federation.agreements.store import members_of, signatures_of, versions_of
from federation.content import markdown_to_html
from federation.context import Federation
from federation.outbox import iso
from federation.vocabulary import AGREEMENTS_CONTEXT_PATH, AS, DATA_INTEGRITY, PUBLIC
from models.actor import actor_by_uri
from models.agreement import Proposal

CONTEXT_PATH = AGREEMENTS_CONTEXT_PATH


NAMESPACE = "https://codeberg.org/interpeople/ns#"


MAX_PARTIES = 2000


CONTEXT_DOCUMENT = {
    "@context": {
        "@version": 1.1,
        "ip": NAMESPACE,
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "Proposal": "ip:Proposal",
        "Agreement": "ip:Agreement",
        "parties": {"@id": "ip:parties", "@type": "@id", "@container": "@list"},
        "mediator": {"@id": "ip:mediator", "@type": "@id"},
        "proposal": {"@id": "ip:proposal", "@type": "@id"},
        "agreement": {"@id": "ip:agreement", "@type": "@id"},
        "version": "ip:version",
        "versions": {"@id": "ip:versions", "@container": "@list"},
        "currentVersion": "ip:currentVersion",
        "previousVersion": "ip:previousVersion",
        "versionAuthor": {"@id": "ip:versionAuthor", "@type": "@id"},
        "renews": {"@id": "ip:renews", "@type": "@id"},
        "supersededBy": {"@id": "ip:supersededBy", "@type": "@id"},
        "status": "ip:status",
        "declines": {"@id": "ip:declines", "@container": "@set"},
        "withdrawals": {"@id": "ip:withdrawals", "@container": "@set"},
        "membersOnly": {"@id": "ip:membersOnly", "@type": "xsd:boolean"},
        "actedBy": {"@id": "ip:actedBy", "@type": "@id"},
        "mandate": {"@id": "ip:mandate", "@type": "@id"},
        "mandateDigest": "ip:mandateDigest",
        "decisionKind": "ip:decisionKind",
        "quorum": {"@id": "ip:quorum", "@type": "xsd:double"},
        "threshold": {"@id": "ip:threshold", "@type": "xsd:double"},
        "electorate": {"@id": "ip:electorate", "@type": "xsd:integer"},
        "outcome": "ip:outcome",
        "outcomeReason": "ip:outcomeReason",
        "votersCount": "http://joinmastodon.org/ns#votersCount",
    }
}


def context_url(base: str) -> str:
    return base.rstrip("/") + CONTEXT_PATH


def document_context(base: str) -> list:
    return [AS, DATA_INTEGRITY, context_url(base)]


def version_document(
    *,
    context: list,
    agreement_uri: str,
    proposal_uri: str,
    author: str,
    version_author: str,
    title: str,
    text: str,
    parties: list[str],
    mediator: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    renews: str | None,
    previous: str | None,
    language: str | None = None,
    translations: dict[str, str] | None = None,
) -> dict:
    """An immutable version: what parties sign. Its JCS form, hashed, is its name."""
    html = markdown_to_html(text)
    document = {
        "@context": context,
        "type": "Agreement",
        "id": agreement_uri,
        "proposal": proposal_uri,
        "attributedTo": author,
        "versionAuthor": version_author,
        "name": title,
        "content": html,
        "mediaType": "text/html",
        "source": {"content": text, "mediaType": "text/markdown"},
        "parties": list(parties),
        "published": iso(),
    }
    if language or translations:
        content_map = {language: html} if language else {}
        content_map.update({lang: markdown_to_html(body) for lang, body in (translations or {}).items()})
        document["contentMap"] = content_map
    optional = {
        "mediator": mediator,
        "startTime": iso(start) if start else None,
        "endTime": iso(end) if end else None,
        "renews": renews,
        "previousVersion": previous,
    }
    document.update({k: v for k, v in optional.items() if v})
    return document


async def proposal_document(session: AsyncSession, fed: Federation, proposal: Proposal) -> dict:
    """The Proposal as its origin publishes it: every ordered version with its proofs, declines, withdrawals."""
    members = await members_of(session, proposal)
    parties = [m for m in members if m.role == "party"]
    position = {p.actor_uri: p.position for p in parties}
    proofs: dict[str, list[dict]] = {}
    for signature in sorted(
        await signatures_of(session, proposal), key=lambda s: position.get(s.signer_uri, 0)
    ):
        proofs.setdefault(signature.version_hash, []).append(signature.proof)
    versions = [v for v in await versions_of(session, proposal) if v.seq is not None]
    current = next((v for v in versions if v.hash == proposal.current_version), versions[-1])
    author = await actor_by_uri(session, proposal.author_uri)
    audience = [m.actor_uri for m in members if m.actor_uri != proposal.author_uri]
    document = {
        "@context": document_context(fed.urls.base),
        "id": proposal.uri,
        "type": "Proposal",
        "attributedTo": proposal.author_uri,
        "name": proposal.title,
        "content": current.document.get("content", ""),
        "url": proposal.uri,
        "agreement": proposal.agreement_uri,
        "parties": [p.actor_uri for p in parties],
        "status": proposal.state,
        "currentVersion": proposal.current_version,
        "versions": [
            {**v.document, "proof": proofs[v.hash]} if v.hash in proofs else v.document for v in versions
        ],
        "declines": [p.decline for p in parties if p.decline],
        "withdrawals": [p.withdrawal for p in parties if p.withdrawal],
        "published": iso(proposal.created_at),
        "updated": iso(proposal.updated_at),
        "context": proposal.uri,
        "to": audience,
        "cc": [c for c in (author.followers_url if author else None, PUBLIC) if c],
    }
    optional = {
        "mediator": proposal.mediator_uri,
        "renews": proposal.renews_uri,
        "supersededBy": proposal.superseded_by_uri,
        "startTime": iso(proposal.start_time) if proposal.start_time else None,
        "endTime": iso(proposal.end_time) if proposal.end_time else None,
    }
    document.update({k: v for k, v in optional.items() if v})
    return document


def agreement_document(proposal: Proposal) -> dict | None:
    """The signed agreement (the agreed version with one proof per party), as every party holds it."""
    return json.loads(proposal.agreement_canonical) if proposal.agreement_canonical else None
