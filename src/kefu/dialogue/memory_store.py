"""A volatile tracker store for tests and throw-away runs."""

from __future__ import annotations

from kefu.dialogue.base import VERIFIED_SLOT, AppendBatch, SequenceConflict, SessionRecord
from kefu.domain.events import Event, SlotSet
from kefu.domain.types import SessionId, TenantId


class InMemoryTrackerStore:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], SessionRecord] = {}
        self._events: dict[tuple[str, str], list[Event]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def append(self, batch: AppendBatch) -> None:
        key = (batch.tenant, batch.session_id)
        if batch.new_session is not None and key in self._sessions:
            raise SequenceConflict(f"session {batch.session_id} exists")
        log = self._events.get(key, [])
        if len(log) != batch.first_seq:
            raise SequenceConflict(
                f"session {batch.session_id}: expected seq {len(log)}, got {batch.first_seq}"
            )
        if batch.new_session is not None:
            self._sessions[key] = batch.new_session
        elif key not in self._sessions:
            raise SequenceConflict(f"session {batch.session_id} does not exist")
        self._events[key] = [*log, *batch.events]
        if batch.events:
            rec = self._sessions[key]
            self._sessions[key] = SessionRecord(
                tenant=rec.tenant,
                session_id=rec.session_id,
                user_id=rec.user_id,
                channel=rec.channel,
                created_at=rec.created_at,
                last_active=batch.events[-1].ts,
            )

    async def get_session(self, tenant: TenantId, session_id: SessionId) -> SessionRecord | None:
        return self._sessions.get((tenant, session_id))

    async def load(
        self, tenant: TenantId, session_id: SessionId, *, after_seq: int = -1
    ) -> list[Event]:
        return list(self._events.get((tenant, session_id), [])[after_seq + 1 :])

    async def list_sessions(
        self, tenant: TenantId, *, idle_before: float | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        recs = [
            r
            for (t, _), r in self._sessions.items()
            if t == tenant and (idle_before is None or r.last_active < idle_before)
        ]
        recs.sort(key=lambda r: r.last_active, reverse=True)
        return recs[:limit]

    async def customer_sessions(self, tenant: TenantId, customer_id: str) -> list[SessionId]:
        found = [
            rec
            for (t, sid), rec in self._sessions.items()
            if t == tenant
            and (
                rec.user_id == customer_id
                or any(
                    isinstance(e, SlotSet) and e.name == VERIFIED_SLOT and e.value == customer_id
                    for e in self._events.get((t, sid), [])
                )
            )
        ]
        found.sort(key=lambda r: (r.created_at, r.session_id))
        return [r.session_id for r in found]

    async def erase_session(self, tenant: TenantId, session_id: SessionId) -> bool:
        key = (tenant, session_id)
        self._events.pop(key, None)
        return self._sessions.pop(key, None) is not None
