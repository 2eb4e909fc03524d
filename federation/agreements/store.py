"""Finding proposals and their parties, versions and signatures in the database."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.proofs import canonical, without_proof
from models.agreement import (
    Proposal,
    ProposalParty,
    ProposalSignature,
    ProposalVersion,
)


async def proposal_by_uri(session: AsyncSession, uri: str) -> Proposal | None:
    """A proposal by its own URL or by its agreement's URL (with or without a trailing page suffix)."""
    uri = uri.strip()
    return await session.scalar(
        select(Proposal).where((Proposal.uri == uri) | (Proposal.agreement_uri == uri))
    )


async def agreement_by_uri(session: AsyncSession, agreement_uri: str | None) -> Proposal | None:
    """The proposal whose agreement has this URL (what `renews` and `supersededBy` name)."""
    if not agreement_uri:
        return None
    return await session.scalar(select(Proposal).where(Proposal.agreement_uri == agreement_uri))


async def members_of(session: AsyncSession, proposal: Proposal) -> list[ProposalParty]:
    """Parties (in their order) and the mediator (last)."""
    return list(
        (
            await session.scalars(
                select(ProposalParty)
                .where(ProposalParty.proposal_id == proposal.id)
                .order_by(ProposalParty.role.desc(), ProposalParty.position)
            )
        ).all()
    )


async def parties_of(session: AsyncSession, proposal: Proposal) -> list[ProposalParty]:
    return [p for p in await members_of(session, proposal) if p.role == "party"]


async def party_row(
    session: AsyncSession, proposal: Proposal, actor_uri: str, role: str = "party"
) -> ProposalParty | None:
    return await session.scalar(
        select(ProposalParty).where(
            ProposalParty.proposal_id == proposal.id,
            ProposalParty.actor_uri == actor_uri,
            ProposalParty.role == role,
        )
    )


async def versions_of(session: AsyncSession, proposal: Proposal) -> list[ProposalVersion]:
    """Ordered versions (those the origin has not ordered yet come last)."""
    rows = (
        await session.scalars(
            select(ProposalVersion)
            .where(ProposalVersion.proposal_id == proposal.id)
            .order_by(ProposalVersion.id)
        )
    ).all()
    return sorted(rows, key=lambda v: (v.seq is None, v.seq or 0, v.id))


async def version_of(
    session: AsyncSession, proposal: Proposal, version_hash: str | None
) -> ProposalVersion | None:
    if not version_hash:
        return None
    return await session.scalar(
        select(ProposalVersion).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.hash == version_hash
        )
    )


async def signatures_of(session: AsyncSession, proposal: Proposal) -> list[ProposalSignature]:
    return list(
        (
            await session.scalars(
                select(ProposalSignature)
                .where(ProposalSignature.proposal_id == proposal.id)
                .order_by(ProposalSignature.id)
            )
        ).all()
    )


async def signature_of(
    session, proposal: Proposal, version_hash: str, signer: str
) -> ProposalSignature | None:
    return await session.scalar(
        select(ProposalSignature).where(
            ProposalSignature.proposal_id == proposal.id,
            ProposalSignature.version_hash == version_hash,
            ProposalSignature.signer_uri == signer,
        )
    )


async def add_version(
    session: AsyncSession, proposal: Proposal, document: dict, seq: int | None, author_uri: str
) -> ProposalVersion:
    document = without_proof(document)
    text = canonical(document)
    version = ProposalVersion(
        proposal_id=proposal.id,
        hash=hashlib.sha256(text).hexdigest(),
        seq=seq,
        author_uri=author_uri,
        document=document,
        canonical=text.decode("utf-8"),
    )
    session.add(version)
    await session.flush()
    return version
