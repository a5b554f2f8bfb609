"""Protocols of the dialogue layer."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from kefu.domain.events import Event
from kefu.domain.types import SessionId, TenantId

VERIFIED_SLOT = "verified_user_id"
"""The slot holding the customer verified in the conversation (or vouched for by the channel)."""


class StoreError(Exception):
    """The tracker store failed (connection, disk, ...)."""


class SequenceConflict(StoreError):
    """Another writer already stored an event at that sequence number."""


class SessionExists(StoreError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    tenant: TenantId
    session_id: SessionId
    user_id: str | None
    channel: str
    created_at: float
    last_active: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendBatch:
    """Events of one turn. `new_session` is set when the turn creates the session."""

    tenant: TenantId
    session_id: SessionId
    first_seq: int  # sequence number of events[0]; seq numbers start at 0
    events: Sequence[Event]
    new_session: SessionRecord | None = None


class TrackerStore(Protocol):
    """Append-only event log per session. Every backend passes `testing.conformance`."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def append(self, batch: AppendBatch) -> None:
        """Store the events durably; raise SequenceConflict if a seq is taken."""
        ...

    async def get_session(
        self, tenant: TenantId, session_id: SessionId
    ) -> SessionRecord | None: ...

    async def load(
        self, tenant: TenantId, session_id: SessionId, *, after_seq: int = -1
    ) -> list[Event]:
        """Events with seq > after_seq, in order."""
        ...

    async def list_sessions(
        self, tenant: TenantId, *, idle_before: float | None = None, limit: int = 100
    ) -> list[SessionRecord]: ...

    async def customer_sessions(self, tenant: TenantId, customer_id: str) -> list[SessionId]:
        """The tenant's sessions of a customer, oldest first: those logged in as them
        (`SessionRecord.user_id`) and those where a `verified_user_id` slot was set to them."""
        ...

    async def erase_session(self, tenant: TenantId, session_id: SessionId) -> bool:
        """Delete a session's events and record in one transaction; False if it was absent."""
        ...


class SessionLocks(Protocol):
    """Serialises the turns of one session. `distributed` locks span server processes."""

    distributed: bool

    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...

    async def close(self) -> None: ...
