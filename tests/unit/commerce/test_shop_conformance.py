"""Every shop back end passes the same conformance suite (PostgreSQL: tests/integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kefu.commerce.base import Shop
from kefu.commerce.http_client import HttpShop
from kefu.commerce.http_server import create_shop_app
from kefu.commerce.memory import InMemoryShop
from kefu.commerce.sql_store import SqlShopStore
from kefu.testing.commerce_conformance import T1, ShopConformance, conformance_data
from kefu.testing.fakes import FakeShop


class TestInMemoryShop(ShopConformance):
    @pytest.fixture
    def shop(self) -> Shop:
        return InMemoryShop(conformance_data(), tenant=T1)


class TestFakeShop(ShopConformance):
    @pytest.fixture
    def shop(self) -> Shop:
        return FakeShop(conformance_data(), tenant=T1)


class TestSqliteShop(ShopConformance):
    @pytest.fixture
    def shop(self, sql_shop: SqlShopStore) -> Shop:
        return sql_shop


class TestHttpShop(ShopConformance):
    """The http connector against the contract's reference server over the SQLite store."""

    @pytest.fixture
    async def shop(self, sql_shop: SqlShopStore) -> AsyncIterator[Shop]:
        app = create_shop_app(sql_shop, api_key="s3cret")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")
        connector = HttpShop("http://shop", api_key="s3cret", client=client, timeout_s=5.0)
        yield connector
        await connector.close()
        await client.aclose()
