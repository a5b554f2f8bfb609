"""The PostgreSQL tracker store passes the same conformance suite as SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kefu.dialogue.sql_store import SqlTrackerStore, make_engine
from kefu.testing.conformance import TrackerStoreConformance

pytestmark = pytest.mark.integration


class TestPostgresStore(TrackerStoreConformance):
    @pytest.fixture
    async def store(self, pg_url: str, pg_schema: str) -> AsyncIterator[SqlTrackerStore]:
        s = SqlTrackerStore(make_engine(pg_url, schema=pg_schema))
        await s.start()
        yield s
        await s.close()
