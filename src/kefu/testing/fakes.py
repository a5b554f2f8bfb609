"""Test doubles for the commerce connectors: scripted faults, recorded calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

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
    ReturnItems,
)
from kefu.commerce.demo import demo_shop
from kefu.commerce.memory import InMemoryShop
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult
from kefu.domain.commerce import (
    Customer,
    Order,
    Product,
    ShopData,
    Ticket,
    Tracking,
    Variant,
)

FaultMode = Literal["ok", "timeout", "error", "garbage"]


class FakeShop(InMemoryShop):
    """Every commerce role in memory, plus a switch that makes the back end hang or fail.

    `mode`: ok | timeout (every call hangs until the caller's time limit cancels it) |
    error (an HTTP 500) | garbage (an unparseable answer); the last two raise
    ConnectorError. `log` records (method, first argument after the tenant) of every call;
    `write_keys` the idempotency key of every write call.
    """

    def __init__(self, data: ShopData | None = None, *, tenant: str = "default") -> None:
        super().__init__(data, tenant=tenant)
        self.mode: FaultMode = "ok"
        self.log: list[tuple[str, str]] = []
        self.write_keys: list[str] = []

    async def _call(self, method: str, arg: str, key: str | None = None) -> None:
        self.log.append((method, arg))
        if key is not None:
            self.write_keys.append(key)
        if self.mode == "timeout":
            await asyncio.Event().wait()  # hangs until the action timeout cancels it
        if self.mode == "error":
            raise ConnectorError("HTTP 500 from the shop back end")
        if self.mode == "garbage":
            raise ConnectorError("unparseable answer from the shop back end")

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        await self._call("get_order", order_id)
        return await super().get_order(tenant, order_id)

    async def list_orders(self, tenant: str, user_id: str) -> list[Order]:
        await self._call("list_orders", user_id)
        return await super().list_orders(tenant, user_id)

    async def get_customer(self, tenant: str, user_id: str) -> Customer | None:
        await self._call("get_customer", user_id)
        return await super().get_customer(tenant, user_id)

    async def find_customer(self, tenant: str, query: CustomerQuery) -> Customer | None:
        await self._call("find_customer", "")
        return await super().find_customer(tenant, query)

    async def get_product(self, tenant: str, product_id: str) -> Product | None:
        await self._call("get_product", product_id)
        return await super().get_product(tenant, product_id)

    async def get_variant(self, tenant: str, item_id: str) -> Variant | None:
        await self._call("get_variant", item_id)
        return await super().get_variant(tenant, item_id)

    async def list_products(self, tenant: str) -> list[Product]:
        await self._call("list_products", "")
        return await super().list_products(tenant)

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        await self._call("track", tracking_number)
        return await super().track(
            tenant, courier=courier, tracking_number=tracking_number, phone=phone
        )

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket | None:
        await self._call("get_ticket", ticket_id)
        return await super().get_ticket(tenant, ticket_id)

    async def list_tickets(self, tenant: str, user_id: str) -> list[Ticket]:
        await self._call("list_tickets", user_id)
        return await super().list_tickets(tenant, user_id)

    async def anonymise_tickets(self, tenant: str, user_id: str) -> int:
        await self._call("anonymise_tickets", user_id)
        return await super().anonymise_tickets(tenant, user_id)

    async def cancel_order(
        self, tenant: str, request: CancelOrder, *, idempotency_key: str
    ) -> Order:
        await self._call("cancel_order", request.order_id, idempotency_key)
        return await super().cancel_order(tenant, request, idempotency_key=idempotency_key)

    async def modify_items(
        self, tenant: str, request: ModifyItems, *, idempotency_key: str
    ) -> Order:
        await self._call("modify_items", request.order_id, idempotency_key)
        return await super().modify_items(tenant, request, idempotency_key=idempotency_key)

    async def modify_payment(
        self, tenant: str, request: ModifyPayment, *, idempotency_key: str
    ) -> Order:
        await self._call("modify_payment", request.order_id, idempotency_key)
        return await super().modify_payment(tenant, request, idempotency_key=idempotency_key)

    async def modify_address(
        self, tenant: str, request: ModifyOrderAddress, *, idempotency_key: str
    ) -> Order:
        await self._call("modify_address", request.order_id, idempotency_key)
        return await super().modify_address(tenant, request, idempotency_key=idempotency_key)

    async def return_items(
        self, tenant: str, request: ReturnItems, *, idempotency_key: str
    ) -> Order:
        await self._call("return_items", request.order_id, idempotency_key)
        return await super().return_items(tenant, request, idempotency_key=idempotency_key)

    async def exchange_items(
        self, tenant: str, request: ExchangeItems, *, idempotency_key: str
    ) -> Order:
        await self._call("exchange_items", request.order_id, idempotency_key)
        return await super().exchange_items(tenant, request, idempotency_key=idempotency_key)

    async def modify_user_address(
        self, tenant: str, request: ModifyUserAddress, *, idempotency_key: str
    ) -> Customer:
        await self._call("modify_user_address", request.user_id, idempotency_key)
        return await super().modify_user_address(tenant, request, idempotency_key=idempotency_key)

    async def create_ticket(
        self, tenant: str, request: NewTicket, *, idempotency_key: str
    ) -> Ticket:
        await self._call("create_ticket", request.category, idempotency_key)
        return await super().create_ticket(tenant, request, idempotency_key=idempotency_key)


class FakeOrderService(FakeShop):
    """The fake shop seeded with the Chinese demo shop (or only the orders given)."""

    def __init__(self, orders: list[Order] | None = None, *, tenant: str = "default") -> None:
        data = demo_shop() if orders is None else ShopData(orders=tuple(orders))
        super().__init__(data, tenant=tenant)

    @property
    def calls(self) -> list[str]:
        """The order ids get_order was asked for, in order."""
        return [arg for method, arg in self.log if method == "get_order"]


@dataclass(slots=True)
class RecordedWrite:
    name: str
    idempotency_key: str
    slots: dict[str, object]


@dataclass(slots=True)
class FakeWriteActions:
    """A writing action for flow tests: records each write once per idempotency key."""

    writes: list[RecordedWrite] = field(default_factory=list)

    def register(self, registry: ActionRegistry) -> None:
        registry.register("fake_write", self.fake_write)

    async def fake_write(self, ctx: ActionContext) -> ActionResult:
        if any(w.idempotency_key == ctx.idempotency_key for w in self.writes):
            return ActionResult(status="ok", data={"duplicate": True})
        self.writes.append(RecordedWrite("fake_write", ctx.idempotency_key, dict(ctx.slots)))
        return ActionResult(status="ok", data={"written": len(self.writes)})
