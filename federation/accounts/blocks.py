"""Domain blocks: a blocked instance (and its subdomains) has its activities refused and gets nothing from us."""

from __future__ import annotations

import re
import time
import weakref

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from federation.vocabulary import host_of
from models import Actor, Delivery, utcnow
from models.account import DomainBlock
from models.delivery import PENDING, DeliveryState

# A host name (or an IP address), with a port in local testing: "example.org", "127.0.0.1:8002".
_DOMAIN = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)
CACHE_SECONDS = 5.0
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def normalise_domain(text: str) -> str:
    """The domain an admin typed, from a bare name, a handle or a URL; 400 when it is none."""
    text = (text or "").strip().lower()
    if "://" in text:
        text = host_of(text)
    text = text.rsplit("@", 1)[-1].strip("/").rstrip(".")
    if not _DOMAIN.match(text):
        raise Refusal(400, "Give a domain such as example.org (or a handle or URL on it).")
    return text


def matches(domains, host: str) -> str | None:
    """The block that covers a host (netloc): the same name, or a parent domain of it."""
    host = (host or "").lower()
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for domain in domains:
        if host == domain or name == domain or name.endswith("." + domain):
            return domain
    return None


async def blocked_domains(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(DomainBlock.domain))).all())


async def cached_domains(fed) -> list[str]:
    """The blocked domains, read at most every few seconds per process (the inbox checks every request)."""
    found = _cache.get(fed)
    if found is None or time.monotonic() - found[0] > CACHE_SECONDS:
        async with fed.db.session() as session:
            found = (time.monotonic(), await blocked_domains(session))
        _cache[fed] = found
    return found[1]


def forget_cache(fed) -> None:
    _cache.pop(fed, None)


async def refuse_blocked(fed, *uris: str) -> None:
    """Refusal(403) when any of these ids lives on a blocked domain."""
    domains = await cached_domains(fed)
    if not domains:
        return
    for uri in uris:
        domain = matches(domains, host_of(uri))
        if domain is not None:
            raise Refusal(
                403, f"this instance does not accept activities from {domain} (the domain is blocked)"
            )


async def block_domain(
    session: AsyncSession, domain: str, reason: str | None, by: Actor | None
) -> DomainBlock:
    """Blocks a domain; deliveries waiting for it are marked failed."""
    domain = normalise_domain(domain)
    if await session.scalar(select(DomainBlock.id).where(DomainBlock.domain == domain)) is not None:
        raise Refusal(409, f"{domain} is already blocked.")
    block = DomainBlock(
        domain=domain, reason=(reason or "").strip()[:500] or None, created_by_id=by.id if by else None
    )
    session.add(block)
    await session.flush()
    hosts = (await session.scalars(select(Delivery.host).where(Delivery.state.in_(PENDING)).distinct())).all()
    covered = [h for h in hosts if matches([domain], h)]
    if covered:
        await session.execute(
            update(Delivery)
            .where(Delivery.host.in_(covered), Delivery.state.in_(PENDING))
            .values(state=DeliveryState.failed.value, last_error=f"{domain} is blocked", updated_at=utcnow())
        )
    return block


async def unblock_domain(session: AsyncSession, domain: str) -> bool:
    done = await session.execute(delete(DomainBlock).where(DomainBlock.domain == domain))
    return done.rowcount == 1


async def list_blocks(session: AsyncSession) -> list[DomainBlock]:
    return list((await session.scalars(select(DomainBlock).order_by(DomainBlock.domain))).all())
