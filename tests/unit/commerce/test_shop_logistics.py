"""The Kuaidi100 adapter against recorded answers served by a local stand-in of the API."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kefu.commerce.base import ConnectorError
from kefu.commerce.logistics import CHINA, FallbackLogistics, Kuaidi100Logistics, kuaidi100_sign
from kefu.commerce.memory import InMemoryShop
from kefu.testing.commerce_conformance import T1, conformance_data

RECORDINGS = Path(__file__).parent / "recordings"
CUSTOMER, KEY = "CUST01", "k3y"
BY_NUMBER = {
    "SF1234567890123": "kuaidi100_sf_in_transit.json",
    "78123456789029": "kuaidi100_zto_signed.json",
}


def _app(seen: list[dict[str, str]], *, status: int = 200) -> Starlette:
    async def query(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        seen.append(form)
        if status != 200:
            return Response("upstream error", status_code=status)
        if form.get("sign") != kuaidi100_sign(form["param"], KEY, form["customer"]):
            name = "kuaidi100_bad_sign.json"
        else:
            name = BY_NUMBER.get(json.loads(form["param"])["num"], "kuaidi100_no_result.json")
        return JSONResponse(json.loads((RECORDINGS / name).read_text(encoding="utf-8")))

    return Starlette(routes=[Route("/poll/query.do", query, methods=["POST"])])


def _adapter(
    seen: list[dict[str, str]], *, key: str = KEY, status: int = 200
) -> Kuaidi100Logistics:
    transport = httpx.ASGITransport(app=_app(seen, status=status))
    client = httpx.AsyncClient(transport=transport, base_url="http://kuaidi100.local")
    return Kuaidi100Logistics(customer=CUSTOMER, key=key, client=client, timeout_s=2.0)


async def test_a_parcel_in_transit_oldest_event_first() -> None:
    seen: list[dict[str, str]] = []
    got = await _adapter(seen).track(
        T1, courier="SF", tracking_number="SF1234567890123", phone="13800138001"
    )
    assert got is not None and got.courier == "SF" and not got.delivered
    assert [e.location for e in got.events] == ["杭州", "上海,上海市", "上海浦东"]
    first = datetime(2026, 11, 18, 18, 2, 45, tzinfo=CHINA).timestamp()
    assert got.events[0].ts == first
    param = json.loads(seen[0]["param"])
    assert param == {"com": "shunfeng", "num": "SF1234567890123", "phone": "8001", "order": "asc"}


async def test_a_signed_parcel_is_delivered() -> None:
    got = await _adapter([]).track(T1, courier="zto", tracking_number="78123456789029")
    assert got is not None and got.delivered and len(got.events) == 2


async def test_an_unknown_parcel_or_courier_is_none() -> None:
    seen: list[dict[str, str]] = []
    adapter = _adapter(seen)
    assert await adapter.track(T1, courier="SF", tracking_number="SF000") is None
    assert await adapter.track(T1, courier="", tracking_number="SF000") is None
    assert len(seen) == 1  # no courier: not even asked


async def test_a_refusal_or_server_error_is_a_connector_error() -> None:
    with pytest.raises(ConnectorError, match="503"):
        await _adapter([], key="wrong").track(T1, courier="SF", tracking_number="SF1")
    seen: list[dict[str, str]] = []
    with pytest.raises(ConnectorError, match="HTTP 502"):
        await _adapter(seen, status=502).track(T1, courier="SF", tracking_number="SF1")
    assert len(seen) == 2  # a query is a read: retried once


async def test_fallback_answers_from_the_store_when_the_aggregator_fails() -> None:
    store = InMemoryShop(conformance_data(), tenant=T1)
    fallback = FallbackLogistics(_adapter([], key="wrong"), store)
    got = await fallback.track(T1, courier="SF", tracking_number="SF001")
    assert got is not None and [e.description for e in got.events][-1] == "派送中"
    live = FallbackLogistics(_adapter([]), store)
    got = await live.track(T1, courier="ZTO", tracking_number="78123456789029")
    assert got is not None and got.delivered


def test_it_needs_credentials() -> None:
    with pytest.raises(ValueError, match="customer"):
        Kuaidi100Logistics(customer="", key="")
