"""Password hashing with Argon2id (argon2-cffi); parameters chosen so one hash costs tens of ms.

The parameters come from the settings (``Runtime`` calls ``configure``); a stored hash carries its
own, so raising them later still verifies old hashes. Test suites may lower them; production
refuses anything under OWASP's floor (19 MiB, 2 passes).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes: OWASP's recommended floor or above


def configure(*, time_cost: int, memory_kib: int) -> None:
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def hash_password_now(password: str) -> str:
    """In the calling thread (CLI, start-up): blocks for the whole hash."""
    return _hasher.hash(password)


def _verify(password: str, stored: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """In a worker thread: Argon2 releases the GIL, so sign-ins run on every core and a ~100 ms hash
    never stalls the event loop's other requests."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, stored: str) -> bool:
    return await asyncio.to_thread(_verify, password, stored)
