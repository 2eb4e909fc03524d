"""Sign-in throttling for /login, the OAuth consent page and the token endpoint's password grant.

Failures are counted per account name and per client address in the database (models/throttle.py), so
every process of an instance agrees; a missing account costs the same time as a wrong password.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import math

from aiohttp import web

from federation.settings import Settings
from models import Actor, utcnow
from models.actor import local_person
from models.throttle import failures_since, forget_failures, record_failure
from server.keys import FED
from server.passwords import check_password_evenly, dummy_hash


def client_address(request: web.Request, settings: Settings) -> str:
    """The client's address: the peer's, or the last hop a trusted reverse proxy put in X-Forwarded-For."""
    remote = request.remote or "unknown"
    if remote not in settings.trusted_proxies:
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in settings.trusted_proxies:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote


def _keys(username: str, address: str) -> tuple[str, str]:
    return f"account:{username.lower()[:250]}", f"address:{address}"


def wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many sign-in attempts: try again in {minutes} minute{'s' if minutes > 1 else ''}."


async def seconds_to_wait(request: web.Request, username: str) -> int:
    """0 when a sign-in may be tried now, else how long until the oldest counted failure expires."""
    fed = request.app[FED]
    settings = fed.settings
    window = dt.timedelta(seconds=settings.login_failure_window)
    now = utcnow()
    account, address = _keys(username, client_address(request, settings))
    waits = [0.0]
    async with fed.db.session() as session:
        for key, limit in (
            (account, settings.login_failures_per_account),
            (address, settings.login_failures_per_address),
        ):
            count, oldest = await failures_since(session, key, now - window)
            if count >= limit and oldest is not None:
                waits.append((oldest + window - now).total_seconds())
    return math.ceil(max(waits))


async def sign_in(request: web.Request, username: str, password: str) -> tuple[Actor | None, int]:
    """(the member, 0) when name and password match; (None, 0) when they do not; (None, seconds) when throttled.

    Every attempt that is not throttled costs one Argon2 verification, whether or not the member exists.
    """
    fed = request.app[FED]
    wait = await seconds_to_wait(request, username)
    if wait:
        return None, wait
    async with fed.db.session() as session:
        member = await local_person(session, username)
    ok = await check_password_evenly(member.password_hash if member else None, password)
    account, address = _keys(username, client_address(request, fed.settings))
    async with fed.db.session() as session:
        if ok:
            await forget_failures(session, account)
        else:
            await record_failure(
                session,
                [account, address],
                utcnow() - dt.timedelta(seconds=fed.settings.login_failure_window),
            )
    return (member if ok else None), 0


async def warm_up(app: web.Application) -> None:
    """Makes the dummy hash at start, so the first attempt on a missing account is not slower than the rest."""
    await asyncio.to_thread(dummy_hash)
