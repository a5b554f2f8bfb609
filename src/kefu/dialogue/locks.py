"""Per-session locks: turns of one session run strictly one after another."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """The session lock could not be taken in time (another turn is stuck)."""


class InMemorySessionLocks:
    """One asyncio.Lock per busy session, dropped when nobody holds or waits for it."""

    distributed = False

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock_now, users_now = self._locks[key]
            if users_now <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock_now, users_now - 1)

    async def close(self) -> None:
        self._locks.clear()

    def busy(self) -> int:
        return len(self._locks)


class RedisSessionLocks:
    """A Redis lock per session (for several server processes), behind a local lock.

    The local lock keeps one process from hammering Redis with its own waiting turns; the
    Redis lock (with an expiry, so a killed process cannot block a session forever) orders
    turns across processes.
    """

    distributed = True

    def __init__(
        self, client: Redis, *, timeout_s: float = 30.0, blocking_timeout_s: float = 10.0
    ) -> None:
        self._redis = client
        self._timeout = timeout_s
        self._blocking = blocking_timeout_s
        self._local = InMemorySessionLocks()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local.hold(key):
            lock = self._redis.lock(
                f"kefu:lock:{key}", timeout=self._timeout, blocking_timeout=self._blocking
            )
            try:
                acquired = await lock.acquire()
            except RedisError as exc:
                raise LockTimeout(f"redis lock for {key}: {exc}") from exc
            if not acquired:
                raise LockTimeout(f"session {key} is busy")
            try:
                yield
            finally:
                try:
                    await lock.release()
                except (LockError, RedisError) as exc:
                    log.warning("dialogue.lock_release_failed key=%s error=%s", key, exc)

    async def close(self) -> None:
        await self._redis.aclose()
