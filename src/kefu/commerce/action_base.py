"""What every shop action shares: its back ends and the ownership check."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from kefu.commerce.action_inputs import failed, refused, text, verified_user
from kefu.commerce.base import (
    ConnectorError,
    CustomerDirectory,
    LogisticsService,
    OrderService,
    ProductCatalog,
    ShopRefusal,
    TicketService,
)
from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.commerce import Order
from kefu.domain.types import JsonValue

log = logging.getLogger(__name__)

UNVERIFIED = ActionResult(status="unverified", data={"reason": "verify the customer first"})


class ActionBase:
    def __init__(
        self,
        *,
        orders: OrderService,
        customers: CustomerDirectory | None = None,
        catalog: ProductCatalog | None = None,
        tickets: TicketService | None = None,
        logistics: LogisticsService | None = None,
    ) -> None:
        self._orders = orders
        self._customers = customers
        self._catalog = catalog
        self._tickets = tickets
        self._logistics = logistics

    async def _owned_order(
        self, ctx: ActionContext, *, need_identity: bool
    ) -> Order | ActionResult:
        """The order in slot `order_id` if the conversation's customer may see it.

        Reads without a verified customer are allowed (`need_identity=False`); with one,
        another customer's order is `forbidden`.
        """
        user = verified_user(ctx)
        if need_identity and user is None:
            return UNVERIFIED
        order_id = text(ctx, "order_id")
        if not order_id:
            return ActionResult(status="not_found", data={"reason": "no order id"})
        try:
            order = await self._orders.get_order(ctx.tenant, order_id)
        except ConnectorError as exc:
            log.warning("commerce.order_lookup_failed error=%s", exc)
            return failed(exc)
        if order is None:
            return ActionResult(status="not_found", data={"order_id": order_id})
        if user is not None and order.user_id != user:
            log.info("commerce.order_forbidden order=%s", order_id)
            return ActionResult(status="forbidden", data={"order_id": order_id})
        return order

    async def _write(
        self,
        ctx: ActionContext,
        order: Order | None,
        write: Awaitable[Order],
        extra: Callable[[Order], dict[str, JsonValue]] | None = None,
    ) -> ActionResult:
        """Run a write; ok carries the updated order card plus `extra`."""
        try:
            new = await write
        except ShopRefusal as exc:
            return refused(exc, order, ctx.lang)
        except ConnectorError as exc:
            log.warning("commerce.write_failed error=%s", exc)
            return failed(exc)
        data = new.card(ctx.lang)
        if extra is not None:
            data.update(extra(new))
        return ActionResult(status="ok", data=data)
