"""Read actions: look up and track an order, verify a customer, list what a flow offers."""

from __future__ import annotations

import logging
import re

from kefu.commerce.action_base import UNVERIFIED, ActionBase
from kefu.commerce.action_inputs import (
    failed,
    line_label,
    options_text,
    order_option,
    text,
    verified_user,
)
from kefu.commerce.base import ConnectorError, CustomerQuery
from kefu.commerce.identity import query_kind
from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.commerce import Order, OrderStatus, TrackingEvent, status_label
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
NOT_SHIPPED = frozenset(
    {OrderStatus.PENDING, OrderStatus.PENDING_ITEM_MODIFIED, OrderStatus.CANCELLED}
)


def _statuses(value: JsonValue) -> set[str]:
    """Order statuses from "pending, delivered", ["return requested"] or "return_requested"."""
    parts = re.split(r"[,，、;；]", value) if isinstance(value, str) else value
    if not isinstance(parts, list):
        return set()
    return {p.strip().replace("_", " ") for p in parts if isinstance(p, str) and p.strip()}


class ReadActions(ActionBase):
    async def lookup_order(self, ctx: ActionContext) -> ActionResult:
        got = await self._owned_order(ctx, need_identity=False)
        if isinstance(got, ActionResult):
            return got
        return ActionResult(status="ok", data=got.card(ctx.lang))

    async def track_order(self, ctx: ActionContext) -> ActionResult:
        got = await self._owned_order(ctx, need_identity=False)
        if isinstance(got, ActionResult):
            return got
        label = status_label(got.status, ctx.lang)
        if not got.shipments or got.status in NOT_SHIPPED:
            return ActionResult(status="not_shipped", data={"status_label": label})
        ship = got.shipments[-1]
        events = await self._events(ctx, got, ship.courier, ship.tracking_number, ship.events)
        newest = sorted(events, key=lambda e: e.ts, reverse=True)
        names = COURIER_NAMES.get(ship.courier, {})
        listed: list[JsonValue] = [
            {"ts": e.ts, "description": e.description, "location": e.location} for e in newest
        ]
        return ActionResult(
            status="ok",
            data={
                "order_id": got.order_id,
                "courier": ship.courier,
                "courier_name": names.get(ctx.lang, ship.courier),
                "tracking_number": ship.tracking_number,
                "status_label": label,
                "latest": newest[0].description if newest else label,
                "events": listed,
            },
        )

    async def _events(
        self,
        ctx: ActionContext,
        order: Order,
        courier: str,
        number: str,
        stored: tuple[TrackingEvent, ...],
    ) -> tuple[TrackingEvent, ...]:
        """The logistics service's events when it has some, else the order's own."""
        if self._logistics is None:
            return stored
        phone = ""
        if self._customers is not None and courier == "SF":
            try:
                owner = await self._customers.get_customer(ctx.tenant, order.user_id)
            except ConnectorError:
                owner = None
            phone = owner.phone if owner else ""
        try:
            tracking = await self._logistics.track(
                ctx.tenant, courier=courier, tracking_number=number, phone=phone
            )
        except ConnectorError as exc:
            log.warning("commerce.tracking_failed error=%s", exc)
            return stored
        return tracking.events if tracking is not None and tracking.events else stored

    async def verify_customer(self, ctx: ActionContext) -> ActionResult:
        if self._customers is None:
            return ActionResult(status="error", data={"error": "no_customer_directory"})
        query = CustomerQuery(
            email=text(ctx, "email") or None,
            name=text(ctx, "name") or None,
            first_name=text(ctx, "first_name") or None,
            last_name=text(ctx, "last_name") or None,
            zip=text(ctx, "zip") or None,
            phone=text(ctx, "phone") or None,
        )
        method = query_kind(query)
        if method is None:
            return ActionResult(status="invalid", data={"reason": "email, name + zip, or phone"})
        try:
            found = await self._customers.find_customer(ctx.tenant, query)
        except ConnectorError as exc:
            return failed(exc)
        if found is None:
            log.info("commerce.verify_failed method=%s", method)
            return ActionResult(status="not_found", data={"method": method})
        if ctx.user_verified and ctx.user_id and found.user_id != ctx.user_id:
            return ActionResult(status="forbidden", data={"method": method})
        return ActionResult(
            status="ok",
            data={
                "verified_user_id": found.user_id,
                "name": found.display_name(ctx.lang),
                "method": method,
            },
        )

    async def list_orders(self, ctx: ActionContext) -> ActionResult:
        user = verified_user(ctx)
        if user is None:
            return UNVERIFIED
        wanted = _statuses(ctx.slots.get("order_statuses"))
        try:
            orders = await self._orders.list_orders(ctx.tenant, user)
        except ConnectorError as exc:
            return failed(exc)
        picked = [o for o in orders if not wanted or o.status in wanted]
        picked.sort(key=lambda o: o.created_at or 0.0, reverse=True)  # newest first
        listed: list[JsonValue] = [order_option(o, ctx.lang) for o in picked]
        status = "ok" if listed else "not_found"
        return ActionResult(status=status, data={"orders": listed, "count": len(listed)})

    async def list_order_items(self, ctx: ActionContext) -> ActionResult:
        got = await self._owned_order(ctx, need_identity=False)
        if isinstance(got, ActionResult):
            return got
        items: list[JsonValue] = [
            {
                "line": n,
                "item_id": i.item_id,
                "product_id": i.product_id,
                "name": i.name,
                "options": dict(i.options),
                "options_text": options_text(i.options, ctx.lang),
                "price": i.price,
                "quantity": i.quantity,
                "label": line_label(i, ctx.lang),
                "unit_label": line_label(i, ctx.lang, quantity=False),
                "payload": {"item_id": i.item_id, "line": n},
            }
            for n, i in enumerate(got.items)
        ]
        return ActionResult(
            status="ok",
            data={
                "order_id": got.order_id,
                "status": got.status,
                "status_label": status_label(got.status, ctx.lang),
                "items": items,
                "count": len(items),
            },
        )
