"""Parcel tracking: a Kuaidi100-style aggregator adapter, and a fallback wrapper.

The built-in store answers `LogisticsService.track` from its own tracking events (the
default). `Kuaidi100Logistics` asks an aggregator (快递100 "实时查询" API: a form POST of
`customer`, `param` (JSON: com, num, phone) and `sign` = upper(MD5(param + key +
customer))); `FallbackLogistics` asks one service and falls back to another when the first
fails or does not know the parcel.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kefu.commerce.base import ConnectorError, LogisticsService
from kefu.domain.commerce import Tracking, TrackingEvent

log = logging.getLogger(__name__)

CHINA = timezone(timedelta(hours=8))
KUAIDI100_CODES: dict[str, str] = {
    "SF": "shunfeng",
    "JD": "jd",
    "ZTO": "zhongtong",
    "YTO": "yuantong",
    "STO": "shentong",
    "YUNDA": "yunda",
    "EMS": "ems",
}
SIGNED_STATES = frozenset({"3"})  # 3 = 签收


class _K100Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    time: str
    context: str
    location: str = ""
    area_name: str = Field(default="", alias="areaName")


class _K100Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: str = ""
    status: str | None = None  # "200" when the query worked
    result: bool | None = None  # false on an error answer
    returnCode: str | None = None
    state: str = ""
    ischeck: str = "0"
    com: str = ""
    nu: str = ""
    data: list[_K100Event] = Field(default_factory=list)


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()


def kuaidi100_sign(param: str, key: str, customer: str) -> str:
    return hashlib.md5((param + key + customer).encode()).hexdigest().upper()


class Kuaidi100Logistics:
    """Tracks parcels through a Kuaidi100-compatible `poll/query.do` endpoint."""

    def __init__(
        self,
        *,
        customer: str,
        key: str,
        base_url: str = "https://poll.kuaidi100.com",
        timeout_s: float = 5.0,
        attempts: int = 2,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not customer or not key:
            raise ValueError("Kuaidi100 needs a customer id and a key")
        if timeout_s <= 0 or attempts < 1:
            raise ValueError("timeout_s must be > 0 and attempts >= 1")
        self._customer = customer
        self._key = key
        self._timeout = timeout_s
        self._attempts = attempts
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s)
        )

    async def close(self) -> None:
        """Closes the HTTP client only if this adapter made it."""
        if self._owns_client:
            await self._client.aclose()

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        com = KUAIDI100_CODES.get(courier.upper())
        if com is None:
            return None  # the aggregator cannot guess the courier; let the fallback answer
        query = {"com": com, "num": tracking_number, "phone": phone[-4:], "order": "asc"}
        param = json.dumps(query, ensure_ascii=False, separators=(",", ":"))
        form = {
            "customer": self._customer,
            "param": param,
            "sign": kuaidi100_sign(param, self._key, self._customer),
        }
        answer = await self._post(form)
        if answer.result is False or answer.status not in (None, "200"):
            if answer.returnCode == "500":  # 查询无结果: the aggregator does not know it
                return None
            raise ConnectorError(f"kuaidi100 refused: {answer.returnCode} {answer.message}")
        events = sorted(
            (
                TrackingEvent(
                    ts=_ts(e.time), description=e.context, location=e.location or e.area_name
                )
                for e in answer.data
            ),
            key=lambda e: e.ts,
        )
        return Tracking(
            courier=courier.upper(),
            tracking_number=tracking_number,
            events=tuple(events),
            delivered=answer.ischeck == "1" or answer.state in SIGNED_STATES,
        )

    async def _post(self, form: dict[str, str]) -> _K100Answer:
        """A query is a read: retried on a network error, a timeout or a 5xx."""
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                async with asyncio.timeout(self._timeout):
                    r = await self._client.post("/poll/query.do", data=form)
            except (httpx.HTTPError, TimeoutError) as exc:
                if last:
                    raise ConnectorError(f"kuaidi100: {exc.__class__.__name__}") from exc
                continue
            if r.status_code >= 500 and not last:
                continue
            if r.status_code != 200:
                raise ConnectorError(f"kuaidi100: HTTP {r.status_code}")
            try:
                return _K100Answer.model_validate_json(r.content)
            except (ValidationError, ValueError) as exc:
                raise ConnectorError("kuaidi100: unparseable answer") from exc
        raise AssertionError("unreachable")


class FallbackLogistics:
    """Asks `primary`; on a failure or an unknown parcel, asks `fallback`."""

    def __init__(self, primary: LogisticsService, fallback: LogisticsService) -> None:
        self._primary = primary
        self._fallback = fallback

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        try:
            got = await self._primary.track(
                tenant, courier=courier, tracking_number=tracking_number, phone=phone
            )
        except ConnectorError as exc:
            log.warning("commerce.tracking_fallback error=%s", exc)
            got = None
        if got is not None:
            return got
        return await self._fallback.track(
            tenant, courier=courier, tracking_number=tracking_number, phone=phone
        )
