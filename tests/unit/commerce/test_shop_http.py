"""The http connector's behaviour on faults, and the reference server's contract checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from kefu.commerce.base import CancelOrder, ConnectorError, RefusalCode, ShopRefusal
from kefu.commerce.http_client import HttpShop
from kefu.commerce.http_server import create_shop_app
from kefu.commerce.sql_store import SqlShopStore
from kefu.commerce.wire import OrderModel
from kefu.testing.commerce_conformance import T1, conformance_data

ORDER = OrderModel.of(conformance_data().orders[0]).model_dump(mode="json")
Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests with scripted responses, recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _connector(handler: Handler, **kw: float) -> HttpShop:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://shop")

    async def no_sleep(_s: float) -> None:
        return None

    return HttpShop("http://shop", client=client, sleep=no_sleep, **kw)  # type: ignore[arg-type]


async def test_reads_retry_transient_failures_then_succeed() -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json=ORDER),
    )
    order = await _connector(script, read_attempts=3).get_order(T1, "#W1/x")
    assert order is not None and order.order_id == "o1"
    assert len(script.requests) == 3
    sent = script.requests[-1]
    assert sent.url.raw_path == b"/v1/orders/%23W1%2Fx"  # ids are escaped
    assert sent.headers["X-Kefu-Tenant"] == T1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json={"order_id": "o1"}),  # the wrong shape
        httpx.Response(404, text="Not Found"),  # not the contract's not_found
        httpx.Response(401, json={"error": {"code": "unauthorized"}}),
    ],
)
async def test_garbage_is_a_connector_error_without_retry(answer: httpx.Response) -> None:
    script = Script(answer)
    with pytest.raises(ConnectorError):
        await _connector(script).get_order(T1, "o1")
    assert len(script.requests) == 1


async def test_reads_give_up_after_their_attempts() -> None:
    script = Script(httpx.Response(500))
    with pytest.raises(ConnectorError, match="HTTP 500"):
        await _connector(script, read_attempts=2).list_orders(T1, "c1")
    assert len(script.requests) == 2


async def test_contract_not_found_is_none() -> None:
    script = Script(httpx.Response(404, json={"error": {"code": "not_found"}}))
    assert await _connector(script).get_order(T1, "nope") is None


async def test_writes_are_sent_once_with_their_key() -> None:
    script = Script(httpx.Response(503, text="busy"))
    with pytest.raises(ConnectorError):
        await _connector(script).cancel_order(
            T1, CancelOrder(order_id="o1", reason="no longer needed"), idempotency_key="k-1"
        )
    assert len(script.requests) == 1
    sent = script.requests[0]
    assert sent.headers["Idempotency-Key"] == "k-1"
    assert json.loads(sent.content) == {"reason": "no longer needed"}


async def test_a_refusal_keeps_its_code_and_details() -> None:
    body = {"error": {"code": "wrong_status", "message": "shipped", "details": {"status": "x"}}}
    script = Script(httpx.Response(409, json=body))
    with pytest.raises(ShopRefusal) as info:
        await _connector(script).cancel_order(
            T1, CancelOrder(order_id="o1", reason="no longer needed"), idempotency_key="k"
        )
    assert info.value.code == RefusalCode.WRONG_STATUS and info.value.details == {"status": "x"}


async def test_a_hanging_back_end_times_out() -> None:
    async def hang(_request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError

    client = httpx.AsyncClient(transport=httpx.MockTransport(hang), base_url="http://shop")
    shop = HttpShop("http://shop", client=client, timeout_s=0.05, read_attempts=2, backoff_s=0)
    with pytest.raises(ConnectorError, match="TimeoutError"):
        await shop.get_order(T1, "o1")


async def test_the_reference_server_checks_key_and_token(sql_shop: SqlShopStore) -> None:
    app = create_shop_app(sql_shop, api_key="s3cret")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        anonymous = await client.get("/v1/orders/o1", headers={"X-Kefu-Tenant": T1})
        assert anonymous.status_code == 401
        auth = {"Authorization": "Bearer s3cret", "X-Kefu-Tenant": T1}
        ok = await client.get("/v1/orders/o1", headers=auth)
        assert ok.status_code == 200 and ok.json()["order_id"] == "o1"
        no_key = await client.post("/v1/orders/o1/cancel", headers=auth, json={"reason": "x"})
        assert no_key.status_code == 400
        assert no_key.json()["error"]["code"] == "idempotency_key_required"
        bad = await client.post(
            "/v1/orders/o1/cancel", headers={**auth, "Idempotency-Key": "k"}, json={}
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
        bad_tenant = await client.get("/v1/orders/o1", headers={**auth, "X-Kefu-Tenant": "a b"})
        assert bad_tenant.status_code == 422
