"""The SQL shop store on PostgreSQL: the conformance suite and the τ²-bench round trip."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kefu.commerce.sql_store import SqlShopStore
from kefu.commerce.tau2 import from_tau2, to_tau2
from kefu.dialogue.sql_store import make_engine
from kefu.testing.commerce_conformance import T1, ShopConformance, conformance_data

pytestmark = pytest.mark.integration

TAU2_DB = Path(__file__).parents[2] / "../shared/evaldata/tau2-bench/retail/db.json"


@pytest.fixture
async def pg_shop(pg_url: str, pg_schema: str) -> AsyncIterator[SqlShopStore]:
    engine = make_engine(pg_url, schema=pg_schema, pool_size=4)
    store = SqlShopStore(engine)
    await store.start()
    yield store
    await store.close()
    await engine.dispose()


class TestPostgresShop(ShopConformance):
    @pytest.fixture
    async def shop(self, pg_shop: SqlShopStore) -> SqlShopStore:
        await pg_shop.load(T1, conformance_data())
        return pg_shop


async def test_tau2_round_trip_on_postgres(pg_shop: SqlShopStore) -> None:
    if not TAU2_DB.exists():
        pytest.skip("τ²-bench retail db.json not present")
    original = json.loads(TAU2_DB.read_text(encoding="utf-8"))
    await pg_shop.load("tau2", from_tau2(original))
    assert to_tau2(await pg_shop.dump("tau2")) == original
