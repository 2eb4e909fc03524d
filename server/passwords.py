"""Password hashing (Argon2id through argon2-cffi)."""

import asyncio
import functools

_cost = {"time_cost": 3, "memory_cost": 65536}  # argon2-cffi's defaults; the instance's settings set them


def use_cost(time_cost: int, memory_kib: int) -> None:
    """The Argon2id cost of new hashes (password_time_cost, password_memory_kib); verifying reads the cost
    stored in each hash."""
    if (_cost["time_cost"], _cost["memory_cost"]) != (time_cost, memory_kib):
        _cost.update(time_cost=time_cost, memory_cost=memory_kib)
        _hasher.cache_clear()
        dummy_hash.cache_clear()


@functools.cache
def _hasher():
    # argon2-cffi loads at the first password checked or set, not in an idle server
    from argon2 import PasswordHasher

    return PasswordHasher(**_cost)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored_hash:
        return False
    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash no password matches, with the same parameters as real ones, for accounts that do not exist."""
    return _hasher().hash("no account has this password: it only makes a missing account cost the same")


async def check_password_evenly(stored_hash: str | None, password: str) -> bool:
    """check_password in a worker thread, verifying against a dummy hash when there is no account,
    so a missing account answers in the same time as a wrong password (and the event loop is not blocked)."""
    ok = await asyncio.to_thread(check_password, stored_hash or dummy_hash(), password)
    return ok and bool(stored_hash)
