"""Shop fixtures: a started SQLite shop store, and the conformance data in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kefu.commerce.sql_store import SqlShopStore
from kefu.dialogue.sql_store import make_engine
from kefu.testing.commerce_conformance import T1, conformance_data


@pytest.fixture
async def sql_shop(tmp_path: Path) -> AsyncIterator[SqlShopStore]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    store = SqlShopStore(engine)
    await store.start()
    await store.load(T1, conformance_data())
    yield store
    await store.close()
    await engine.dispose()
