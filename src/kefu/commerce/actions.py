"""Read actions over the commerce connectors, registered for flows by the container."""

from __future__ import annotations

import logging

from kefu.commerce.base import ConnectorError, OrderService
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult
from kefu.domain.commerce import Order, OrderStatus, status_label
from kefu.domain.types import JsonValue

log = logging.getLogger(__name__)

COURIER_NAMES: dict[str, dict[str, str]] = {
    "SF": {"zh": "顺丰速运", "en": "SF Express"},
    "JD": {"zh": "京东物流", "en": "JD Logistics"},
    "ZTO": {"zh": "中通快递", "en": "ZTO Express"},
    "YTO": {"zh": "圆通速递", "en": "YTO Express"},
    "STO": {"zh": "申通快递", "en": "STO Express"},
    "YUNDA": {"zh": "韵达快递", "en": "Yunda Express"},
    "EMS": {"zh": "中国邮政EMS", "en": "China Post EMS"},
}


class OrderActions:
    """`lookup_order` and `track_order`: both check the order belongs to the customer."""

    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    def register(self, registry: ActionRegistry) -> None:
        registry.register("lookup_order", self.lookup_order)
        registry.register("track_order", self.track_order)

    async def _fetch(self, ctx: ActionContext) -> Order | ActionResult:
        order_id = str(ctx.slots.get("order_id") or "")
        if not order_id:
            return ActionResult(status="not_found")
        try:
            order = await self._orders.get_order(ctx.tenant, order_id)
        except ConnectorError as exc:
            log.warning("commerce.order_lookup_failed error=%s", exc)
            return ActionResult(status="error", data={"error": "connector"})
        if order is None:
            return ActionResult(status="not_found")
        if ctx.user_id is not None and ctx.user_verified and order.user_id != ctx.user_id:
            return ActionResult(status="forbidden")
        return order

    async def lookup_order(self, ctx: ActionContext) -> ActionResult:
        got = await self._fetch(ctx)
        if isinstance(got, ActionResult):
            return got
        return ActionResult(status="ok", data=got.card(ctx.lang))

    async def track_order(self, ctx: ActionContext) -> ActionResult:
        got = await self._fetch(ctx)
        if isinstance(got, ActionResult):
            return got
        label = status_label(got.status, ctx.lang)
        if not got.shipments or got.status in (OrderStatus.PENDING, OrderStatus.CANCELLED):
            return ActionResult(status="not_shipped", data={"status_label": label})
        ship = got.shipments[-1]
        events: list[JsonValue] = [
            {"ts": e.ts, "description": e.description, "location": e.location}
            for e in sorted(ship.events, key=lambda e: e.ts, reverse=True)
        ]
        latest = max(ship.events, key=lambda e: e.ts).description if ship.events else label
        names = COURIER_NAMES.get(ship.courier, {})
        return ActionResult(
            status="ok",
            data={
                "order_id": got.order_id,
                "courier": ship.courier,
                "courier_name": names.get(ctx.lang, ship.courier),
                "tracking_number": ship.tracking_number,
                "status_label": label,
                "latest": latest,
                "events": events,
            },
        )
