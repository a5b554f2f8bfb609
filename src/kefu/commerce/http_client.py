"""The `http` connector: a shop's own back end behind kefu's contract (docs/connector-api.yaml).

Every call has a time limit. Reads (GET, and the customer lookup) are retried on a
network error, a timeout, 429 or 5xx; writes are sent once with an `Idempotency-Key`, so
the caller may retry them with the same key. A 4xx with the contract's error body becomes
`ShopRefusal`; anything else that is not the contract (5xx, HTML, a wrong shape, a
timeout) becomes `ConnectorError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kefu.commerce.base import (
    CancelOrder,
    ConnectorError,
    CustomerQuery,
    ExchangeItems,
    ModifyItems,
    ModifyOrderAddress,
    ModifyPayment,
    ModifyUserAddress,
    NewTicket,
    RefusalCode,
    ReturnItems,
    ShopRefusal,
)
from kefu.commerce.wire import (
    AddressModel,
    CustomerModel,
    ErrorModel,
    Id,
    OrderListModel,
    OrderModel,
    ProductListModel,
    ProductModel,
    TicketListModel,
    TicketModel,
    TrackingModel,
    VariantModel,
)
from kefu.domain.commerce import Customer, Order, Product, Ticket, Tracking, Variant

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
TENANT_HEADER = "X-Kefu-Tenant"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REFUSAL_STATUS = frozenset({404, 409, 422})  # other 4xx (400, 401, 403) are our fault


class AnonymiseBody(BaseModel):
    """`POST /v1/tickets/anonymise`: whose tickets to anonymise."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: Id


class AnonymisedModel(BaseModel):
    """How many tickets were anonymised (0 when a repeat finds none)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    anonymised: Annotated[int, Field(ge=0)]


def _q(value: str) -> str:
    return quote(value, safe="")


def _refusal(response: httpx.Response) -> ShopRefusal | None:
    try:
        err = ErrorModel.model_validate_json(response.content).error
    except ValidationError:
        return None
    try:
        code = RefusalCode(err.code)
    except ValueError:
        code = RefusalCode.INVALID
    return ShopRefusal(code, err.message, err.details)


class HttpShop:
    """Every commerce role over HTTP. Pass `client` to share one (tests pass an ASGI one);
    `close()` closes only a client this connector made."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 1.5,
        read_attempts: int = 2,
        backoff_s: float = 0.1,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if timeout_s <= 0 or read_attempts < 1:
            raise ValueError("timeout_s must be > 0 and read_attempts >= 1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s), headers=headers
        )
        self._owns_client = client is None
        if client is not None:
            self._client.headers.update(headers)
        self._timeout = timeout_s
        self._attempts = read_attempts
        self._backoff = backoff_s
        self._sleep = sleep

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _send(
        self, tenant: str, method: str, path: str, *, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {TENANT_HEADER: tenant}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            async with asyncio.timeout(self._timeout):
                return await self._client.request(method, path, headers=headers, **kw)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ConnectorError(f"{method} {path}: {exc.__class__.__name__}") from exc

    async def _read(
        self, tenant: str, method: str, path: str, model: type[M], **kw: Any
    ) -> M | None:
        """A read: the model, None on the contract's not_found, retried when transient."""
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                response = await self._send(tenant, method, path, **kw)
            except ConnectorError:
                if last:
                    raise
                await self._sleep(self._backoff * 2**attempt)
                continue
            if response.status_code in RETRY_STATUS and not last:
                await self._sleep(self._backoff * 2**attempt)
                continue
            if response.status_code == 404:
                refusal = _refusal(response)
                if refusal is not None and refusal.code == RefusalCode.NOT_FOUND:
                    return None
            return self._parse(response, model, method, path)
        raise AssertionError("unreachable")

    def _parse(self, response: httpx.Response, model: type[M], method: str, path: str) -> M:
        if response.status_code != 200:
            refusal = _refusal(response) if response.status_code in REFUSAL_STATUS else None
            if refusal is not None:
                raise refusal
            raise ConnectorError(f"{method} {path}: HTTP {response.status_code}")
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            log.warning("commerce.http_garbage path=%s errors=%d", path, exc.error_count())
            raise ConnectorError(f"{method} {path}: answer does not match the contract") from exc

    async def _write(
        self, tenant: str, method: str, path: str, body: Any, key: str, model: type[M]
    ) -> M:
        response = await self._send(tenant, method, path, key=key, json=body)
        return self._parse(response, model, method, path)

    # -- reads ------------------------------------------------------------------------

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        got = await self._read(tenant, "GET", f"/v1/orders/{_q(order_id)}", OrderModel)
        return got.to_domain() if got else None

    async def list_orders(self, tenant: str, user_id: str) -> list[Order]:
        path = f"/v1/customers/{_q(user_id)}/orders"
        got = await self._read(tenant, "GET", path, OrderListModel)
        return [o.to_domain() for o in got.orders] if got else []

    async def get_customer(self, tenant: str, user_id: str) -> Customer | None:
        got = await self._read(tenant, "GET", f"/v1/customers/{_q(user_id)}", CustomerModel)
        return got.to_domain() if got else None

    async def find_customer(self, tenant: str, query: CustomerQuery) -> Customer | None:
        body = {k: v for k, v in vars_of(query).items() if v is not None}
        got = await self._read(tenant, "POST", "/v1/customers/lookup", CustomerModel, json=body)
        return got.to_domain() if got else None

    async def get_product(self, tenant: str, product_id: str) -> Product | None:
        got = await self._read(tenant, "GET", f"/v1/products/{_q(product_id)}", ProductModel)
        return got.to_domain() if got else None

    async def get_variant(self, tenant: str, item_id: str) -> Variant | None:
        got = await self._read(tenant, "GET", f"/v1/items/{_q(item_id)}", VariantModel)
        return got.to_domain() if got else None

    async def list_products(self, tenant: str) -> list[Product]:
        got = await self._read(tenant, "GET", "/v1/products", ProductListModel)
        return [p.to_domain() for p in got.products] if got else []

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        path = f"/v1/tracking/{_q(tracking_number)}"
        params = {"courier": courier, "phone": phone[-4:]}  # couriers check the last four
        got = await self._read(tenant, "GET", path, TrackingModel, params=params)
        return got.to_domain() if got else None

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket | None:
        got = await self._read(tenant, "GET", f"/v1/tickets/{_q(ticket_id)}", TicketModel)
        return got.to_domain() if got else None

    async def list_tickets(self, tenant: str, user_id: str) -> list[Ticket]:
        path = f"/v1/customers/{_q(user_id)}/tickets"
        got = await self._read(tenant, "GET", path, TicketListModel)
        return [k.to_domain() for k in got.tickets] if got else []

    async def anonymise_tickets(self, tenant: str, user_id: str) -> int:
        """The back end's `POST /v1/tickets/anonymise`; a repeat changes nothing, so it is
        retried like a read. A back end without it answers 404: `ConnectorError`."""
        body = AnonymiseBody(user_id=user_id).model_dump()
        path = "/v1/tickets/anonymise"
        got = await self._read(tenant, "POST", path, AnonymisedModel, json=body)
        if got is None:
            raise ConnectorError(f"POST {path}: the back end does not support it")
        return got.anonymised

    # -- writes -----------------------------------------------------------------------

    async def _order_write(self, tenant: str, method: str, path: str, body: Any, key: str) -> Order:
        return (await self._write(tenant, method, path, body, key, OrderModel)).to_domain()

    async def cancel_order(
        self, tenant: str, request: CancelOrder, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/cancel"
        return await self._order_write(
            tenant, "POST", path, {"reason": request.reason}, idempotency_key
        )

    async def modify_items(
        self, tenant: str, request: ModifyItems, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/modify-items"
        body = {
            "item_ids": list(request.item_ids),
            "new_item_ids": list(request.new_item_ids),
            "payment_method_id": request.payment_method_id,
        }
        return await self._order_write(tenant, "POST", path, body, idempotency_key)

    async def modify_payment(
        self, tenant: str, request: ModifyPayment, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/modify-payment"
        body = {"payment_method_id": request.payment_method_id}
        return await self._order_write(tenant, "POST", path, body, idempotency_key)

    async def modify_address(
        self, tenant: str, request: ModifyOrderAddress, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/address"
        body = AddressModel.read(request.address).model_dump()
        return await self._order_write(tenant, "PUT", path, body, idempotency_key)

    async def return_items(
        self, tenant: str, request: ReturnItems, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/return"
        body = {"item_ids": list(request.item_ids), "payment_method_id": request.payment_method_id}
        return await self._order_write(tenant, "POST", path, body, idempotency_key)

    async def exchange_items(
        self, tenant: str, request: ExchangeItems, *, idempotency_key: str
    ) -> Order:
        path = f"/v1/orders/{_q(request.order_id)}/exchange"
        body = {
            "item_ids": list(request.item_ids),
            "new_item_ids": list(request.new_item_ids),
            "payment_method_id": request.payment_method_id,
        }
        return await self._order_write(tenant, "POST", path, body, idempotency_key)

    async def modify_user_address(
        self, tenant: str, request: ModifyUserAddress, *, idempotency_key: str
    ) -> Customer:
        path = f"/v1/customers/{_q(request.user_id)}/address"
        body = AddressModel.read(request.address).model_dump()
        got = await self._write(tenant, "PUT", path, body, idempotency_key, CustomerModel)
        return got.to_domain()

    async def create_ticket(
        self, tenant: str, request: NewTicket, *, idempotency_key: str
    ) -> Ticket:
        body = vars_of(request)
        got = await self._write(tenant, "POST", "/v1/tickets", body, idempotency_key, TicketModel)
        return got.to_domain()


def vars_of(obj: CustomerQuery | NewTicket) -> dict[str, Any]:
    """A flat dataclass as a dict (slots dataclasses have no __dict__)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
