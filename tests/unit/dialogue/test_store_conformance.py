"""The in-memory and SQLite tracker stores pass the shared conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.dialogue.sql_store import SqlTrackerStore, make_engine
from kefu.testing.conformance import TrackerStoreConformance


class TestInMemoryStore(TrackerStoreConformance):
    @pytest.fixture
    async def store(self) -> AsyncIterator[InMemoryTrackerStore]:
        s = InMemoryTrackerStore()
        await s.start()
        yield s
        await s.close()


class TestSqliteStore(TrackerStoreConformance):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SqlTrackerStore]:
        s = SqlTrackerStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"))
        await s.start()
        yield s
        await s.close()


async def test_sqlite_store_survives_reopen(tmp_path: Path) -> None:
    """What one process committed, the next process reads (the file is the truth)."""
    from kefu.dialogue.base import AppendBatch, SessionRecord
    from kefu.domain.events import SessionStarted, UserUttered
    from kefu.domain.types import SessionId, TenantId

    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    t, sid = TenantId("default"), SessionId("s1")
    first = SqlTrackerStore(make_engine(url))
    await first.start()
    rec = SessionRecord(
        tenant=t, session_id=sid, user_id=None, channel="web", created_at=1.0, last_active=1.0
    )
    events = [SessionStarted(ts=1.0), UserUttered(ts=2.0, text="在吗", lang="zh")]
    await first.append(
        AppendBatch(tenant=t, session_id=sid, first_seq=0, events=events, new_session=rec)
    )
    await first.close()
    second = SqlTrackerStore(make_engine(url))
    await second.start()
    assert await second.load(t, sid) == events
    await second.close()
