"""A shop back end serving kefu's connector contract (docs/connector-api.yaml).

`create_shop_app(shop)` serves any `Shop` (the built-in SQL store in the tests and as a
reference implementation). Tenant in `X-Kefu-Tenant`, writes need `Idempotency-Key`,
errors are `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable
from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    Shop,
    ShopRefusal,
)
from kefu.commerce.http_client import AnonymiseBody, AnonymisedModel
from kefu.commerce.memory import InMemoryShop
from kefu.commerce.wire import (
    AddressModel,
    CancelBody,
    CustomerModel,
    ErrorModel,
    LookupBody,
    ModifyItemsBody,
    NewTicketBody,
    OrderListModel,
    OrderModel,
    PaymentBody,
    ProductListModel,
    ProductModel,
    ReturnBody,
    TicketListModel,
    TicketModel,
    TrackingModel,
    VariantModel,
)
from kefu.domain.commerce import Order

TENANT_HEADER = "X-Kefu-Tenant"
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

STATUS_OF: dict[str, int] = {
    RefusalCode.NOT_FOUND: 404,
    RefusalCode.INVALID: 422,
    RefusalCode.WRONG_STATUS: 409,
    RefusalCode.OUT_OF_STOCK: 409,
    RefusalCode.INSUFFICIENT_BALANCE: 409,
    RefusalCode.IDEMPOTENCY_CONFLICT: 409,
}
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorModel} for code in (400, 401, 404, 409, 422, 503)
}

BEARER = HTTPBearer(auto_error=False, description="The back end's API key, if it has one")
Tenant = Annotated[str, Header(alias=TENANT_HEADER, pattern=TENANT_PATTERN)]
IdemKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def _error(
    status: int, code: str, message: str, details: dict[str, object] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(status_code=status, content=body)


def contract_yaml() -> str:
    """The OpenAPI document of the contract (what docs/connector-api.yaml holds)."""
    spec = create_shop_app(InMemoryShop(), api_key="contract").openapi()
    return yaml.dump(spec, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Multi-line text as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _missing(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no {what}")


async def _order(got: Awaitable[Order]) -> OrderModel:
    return OrderModel.of(await got)


def _routes(shop: Shop) -> APIRouter:
    r = APIRouter(prefix="/v1", responses=ERRORS)

    @r.get("/orders/{order_id}", response_model=OrderModel, tags=["orders"])
    async def get_order(order_id: str, tenant: Tenant = "default") -> OrderModel:
        """The order, with its lines, parcels, payments, return and exchange."""
        order = await shop.get_order(tenant, order_id)
        if order is None:
            raise _missing("order")
        return OrderModel.of(order)

    @r.get("/customers/{user_id}/orders", response_model=OrderListModel, tags=["orders"])
    async def list_orders(user_id: str, tenant: Tenant = "default") -> OrderListModel:
        """A customer's orders, oldest first."""
        orders = await shop.list_orders(tenant, user_id)
        return OrderListModel(orders=[OrderModel.of(o) for o in orders])

    @r.post("/orders/{order_id}/cancel", response_model=OrderModel, tags=["orders"])
    async def cancel(
        order_id: str, body: CancelBody, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Cancel a pending order; refunds go to the methods that paid."""
        req = CancelOrder(order_id=order_id, reason=body.reason)
        return await _order(shop.cancel_order(tenant, req, idempotency_key=key))

    @r.post("/orders/{order_id}/modify-items", response_model=OrderModel, tags=["orders"])
    async def modify_items(
        order_id: str, body: ModifyItemsBody, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Change items of a pending order to other in-stock variants of the same products."""
        req = ModifyItems(order_id=order_id, item_ids=tuple(body.item_ids),
                          new_item_ids=tuple(body.new_item_ids),
                          payment_method_id=body.payment_method_id)  # fmt: skip
        return await _order(shop.modify_items(tenant, req, idempotency_key=key))

    @r.post("/orders/{order_id}/modify-payment", response_model=OrderModel, tags=["orders"])
    async def modify_payment(
        order_id: str, body: PaymentBody, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Pay a pending order with another of the customer's methods."""
        req = ModifyPayment(order_id=order_id, payment_method_id=body.payment_method_id)
        return await _order(shop.modify_payment(tenant, req, idempotency_key=key))

    @r.put("/orders/{order_id}/address", response_model=OrderModel, tags=["orders"])
    async def modify_address(
        order_id: str, body: AddressModel, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Change a pending order's shipping address."""
        req = ModifyOrderAddress(order_id=order_id, address=body.to_domain())
        return await _order(shop.modify_address(tenant, req, idempotency_key=key))

    @r.post("/orders/{order_id}/return", response_model=OrderModel, tags=["orders"])
    async def return_items(
        order_id: str, body: ReturnBody, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Request the return of items of a delivered order."""
        req = ReturnItems(order_id=order_id, item_ids=tuple(body.item_ids),
                          payment_method_id=body.payment_method_id)  # fmt: skip
        return await _order(shop.return_items(tenant, req, idempotency_key=key))

    @r.post("/orders/{order_id}/exchange", response_model=OrderModel, tags=["orders"])
    async def exchange_items(
        order_id: str, body: ModifyItemsBody, key: IdemKey, tenant: Tenant = "default"
    ) -> OrderModel:
        """Request the exchange of items of a delivered order."""
        req = ExchangeItems(order_id=order_id, item_ids=tuple(body.item_ids),
                            new_item_ids=tuple(body.new_item_ids),
                            payment_method_id=body.payment_method_id)  # fmt: skip
        return await _order(shop.exchange_items(tenant, req, idempotency_key=key))

    @r.get("/customers/{user_id}", response_model=CustomerModel, tags=["customers"])
    async def get_customer(user_id: str, tenant: Tenant = "default") -> CustomerModel:
        """A customer with address and payment methods."""
        customer = await shop.get_customer(tenant, user_id)
        if customer is None:
            raise _missing("customer")
        return CustomerModel.of(customer)

    @r.post("/customers/lookup", response_model=CustomerModel, tags=["customers"])
    async def find_customer(body: LookupBody, tenant: Tenant = "default") -> CustomerModel:
        """The one customer matching an e-mail, a name + zip, or a phone (a read)."""
        customer = await shop.find_customer(tenant, CustomerQuery(**body.model_dump()))
        if customer is None:
            raise _missing("customer")
        return CustomerModel.of(customer)

    @r.put("/customers/{user_id}/address", response_model=CustomerModel, tags=["customers"])
    async def modify_user_address(
        user_id: str, body: AddressModel, key: IdemKey, tenant: Tenant = "default"
    ) -> CustomerModel:
        """Change a customer's default address."""
        req = ModifyUserAddress(user_id=user_id, address=body.to_domain())
        return CustomerModel.of(await shop.modify_user_address(tenant, req, idempotency_key=key))

    @r.get("/products", response_model=ProductListModel, tags=["catalog"])
    async def list_products(tenant: Tenant = "default") -> ProductListModel:
        """Every product with its variants."""
        found = await shop.list_products(tenant)
        return ProductListModel(products=[ProductModel.of(p) for p in found])

    @r.get("/products/{product_id}", response_model=ProductModel, tags=["catalog"])
    async def get_product(product_id: str, tenant: Tenant = "default") -> ProductModel:
        """A product with its variants."""
        product = await shop.get_product(tenant, product_id)
        if product is None:
            raise _missing("product")
        return ProductModel.of(product)

    @r.get("/items/{item_id}", response_model=VariantModel, tags=["catalog"])
    async def get_variant(item_id: str, tenant: Tenant = "default") -> VariantModel:
        """One variant (item) by its id."""
        variant = await shop.get_variant(tenant, item_id)
        if variant is None:
            raise _missing("item")
        return VariantModel.of(variant)

    @r.get("/tracking/{tracking_number}", response_model=TrackingModel, tags=["logistics"])
    async def track(
        tracking_number: str, courier: str = "", phone: str = "", tenant: Tenant = "default"
    ) -> TrackingModel:
        """A parcel's tracking events, oldest first."""
        got = await shop.track(
            tenant, courier=courier, tracking_number=tracking_number, phone=phone
        )
        if got is None:
            raise _missing("parcel")
        return TrackingModel.of(got)

    @r.post("/tickets", response_model=TicketModel, tags=["tickets"])
    async def create_ticket(
        body: NewTicketBody, key: IdemKey, tenant: Tenant = "default"
    ) -> TicketModel:
        """Open a ticket for a human agent."""
        req = NewTicket(**body.model_dump())
        return TicketModel.read(await shop.create_ticket(tenant, req, idempotency_key=key))

    @r.get("/tickets/{ticket_id}", response_model=TicketModel, tags=["tickets"])
    async def get_ticket(ticket_id: str, tenant: Tenant = "default") -> TicketModel:
        """A ticket."""
        ticket = await shop.get_ticket(tenant, ticket_id)
        if ticket is None:
            raise _missing("ticket")
        return TicketModel.read(ticket)

    @r.post("/tickets/anonymise", response_model=AnonymisedModel, tags=["tickets"])
    async def anonymise_tickets(body: AnonymiseBody, tenant: Tenant = "default") -> AnonymisedModel:
        """Erase a customer's tickets (a data-subject erasure): subject and body become
        "[erased]", `user_id` and `order_id` null; id, category, status, `verified` and
        `created_at` stay. A repeat finds none, so no Idempotency-Key is needed."""
        return AnonymisedModel(anonymised=await shop.anonymise_tickets(tenant, body.user_id))

    @r.get("/customers/{user_id}/tickets", response_model=TicketListModel, tags=["tickets"])
    async def list_tickets(user_id: str, tenant: Tenant = "default") -> TicketListModel:
        """A customer's tickets."""
        found = await shop.list_tickets(tenant, user_id)
        return TicketListModel(tickets=[TicketModel.read(k) for k in found])

    return r


CONTRACT = """\
What a shop's back end serves so kefu can read and change its orders (kefu's `http`
connector, `KEFU_SHOP__BACKEND=http`). kefu's own reference implementation is
`kefu.commerce.http_server.create_shop_app`; field meanings are in docs/shop.md.

* **Tenant**: header `X-Kefu-Tenant` names the shop (default `default`).
* **Auth**: `Authorization: Bearer <api key>` when the back end requires one.
* **Writes** (POST / PUT) carry an `Idempotency-Key` header (1-200 characters). A repeated
  key with the same request returns the first answer and changes nothing; with another
  request it is refused (409 `idempotency_conflict`). A write happens whole or not at all.
* **Errors** are `{"error": {"code", "message", "details"}}`: 404 `not_found`; 409
  `wrong_status` / `out_of_stock` / `insufficient_balance` / `idempotency_conflict`; 422
  `invalid`; 400 `idempotency_key_required`; 401 `unauthorized`; 503 `unavailable`.
  `details` may carry `status`, `item_id`, `payment_method_id`, `balance`, `required`.
* **kefu as a client** waits `timeout_s` (1.5 s) per call; it retries reads (GET and
  `POST /v1/customers/lookup`) and `POST /v1/tickets/anonymise` (a repeat changes nothing)
  on network errors, timeouts, 429 and 5xx, never writes; an answer that does not match
  this contract counts as the back end failing.
* Money: decimal numbers in the order's currency, two decimals. Times: Unix seconds.
* Ids are path segments (percent-encoded, so `#W123` works); they must not contain `/`.
"""


def create_shop_app(shop: Shop, *, api_key: str | None = None) -> FastAPI:
    """The connector contract served over `shop`; with `api_key`, a bearer token is required."""

    async def auth(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        given = creds.credentials if creds is not None else ""
        if api_key and not hmac.compare_digest(given, api_key):
            raise HTTPException(status_code=401, detail="bad credentials")

    app = FastAPI(
        title="kefu shop connector",
        version="1",
        description=CONTRACT,
        dependencies=[Depends(auth)],
        generate_unique_id_function=lambda route: route.name,
    )
    app.include_router(_routes(shop))

    @app.exception_handler(ShopRefusal)
    async def refused(_r: Request, exc: ShopRefusal) -> JSONResponse:
        return _error(STATUS_OF.get(exc.code, 409), exc.code, exc.message, dict(exc.details))

    @app.exception_handler(ConnectorError)
    async def failed(_r: Request, exc: ConnectorError) -> JSONResponse:
        return _error(503, "unavailable", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 401: "unauthorized"}.get(exc.status_code, "bad_request")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        missing_key = any("Idempotency-Key" in str(e.get("loc", ())) for e in exc.errors())
        if missing_key:
            return _error(400, "idempotency_key_required", "writes need an Idempotency-Key")
        return _error(422, RefusalCode.INVALID, "request does not match the contract")

    return app
