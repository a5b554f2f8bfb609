"""The http connector over a real socket: the reads and the cancel/idempotency/concurrency
parts of the conformance suite against the reference server (uvicorn on a free loopback
port, SQLite behind it), and a real read timeout. The whole suite runs over ASGI in
tests/unit/commerce/test_shop_conformance.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kefu.commerce.base import ConnectorError, Shop
from kefu.commerce.http_client import HttpShop
from kefu.commerce.http_server import create_shop_app
from kefu.commerce.sql_store import SqlShopStore
from kefu.dialogue.sql_store import make_engine
from kefu.testing.commerce_conformance import (
    T1,
    ShopCancelConformance,
    ShopReadConformance,
    conformance_data,
)

pytestmark = pytest.mark.integration


def _serve(make_app: Callable[[], Any]) -> Iterator[str]:
    """Run uvicorn in a thread with its own event loop; yield its base URL. `make_app`
    returns the app and a coroutine function run after the server stops."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            app, cleanup = await make_app()
            config = uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
            )
            server = uvicorn.Server(config)
            box["server"] = server
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            box["port"] = server.servers[0].sockets[0].getsockname()[1]
            ready.set()
            await task
            await cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "uvicorn did not start"
    yield f"http://127.0.0.1:{box['port']}"
    box["server"].should_exit = True
    thread.join(10)


@pytest.fixture
def shop_url(tmp_path: Path) -> Iterator[str]:
    async def make_app() -> Any:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
        store = SqlShopStore(engine)
        await store.start()
        await store.load(T1, conformance_data())
        return create_shop_app(store, api_key="s3cret"), engine.dispose

    yield from _serve(make_app)


class TestHttpShopOverTcp(ShopReadConformance, ShopCancelConformance):
    @pytest.fixture
    async def shop(self, shop_url: str) -> AsyncIterator[Shop]:
        connector = HttpShop(shop_url, api_key="s3cret", timeout_s=5.0)
        yield connector
        await connector.close()


@pytest.fixture
def slow_url() -> Iterator[str]:
    async def make_app() -> Any:
        async def slow(_request: Request) -> Response:
            await asyncio.sleep(3)
            return Response("{}")

        async def nothing() -> None:
            return None

        return Starlette(routes=[Route("/v1/orders/{order_id}", slow)]), nothing

    yield from _serve(make_app)


async def test_a_slow_back_end_times_out_on_the_wire(slow_url: str) -> None:
    shop = HttpShop(slow_url, timeout_s=0.2, read_attempts=2, backoff_s=0.0)
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        await shop.get_order(T1, "o1")
    assert time.monotonic() - started < 2.0
    await shop.close()
