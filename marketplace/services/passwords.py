"""argon2id hashing, run off the event loop because each hash costs tens of milliseconds of CPU."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """At most `max_concurrent` hashes run at once, so bursts queue instead of exhausting memory and CPU."""

    def __init__(self, *, time_cost: int, memory_kib: int, max_concurrent: int = 2) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID)
        # Verified against when the email is unknown, so timing does not tell who has an account.
        self._dummy = self._hasher.hash("no-such-user-placeholder-password")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(
                self._verify, password_hash or self._dummy, password, password_hash is not None
            )

    def _verify(self, password_hash: str, password: str, real: bool) -> bool:
        # Sign-up refuses lone surrogates, so a password holding one matches nothing; encoded with
        # surrogatepass it is still hashed, so it costs what any wrong password costs.
        secret = password.encode("utf-8", "surrogatepass")
        try:
            ok = self._hasher.verify(password_hash, secret)
        except (VerificationError, InvalidHashError):
            return False
        return ok and real

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
