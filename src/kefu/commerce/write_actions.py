"""Write actions: each needs a verified customer who owns the order, and passes the
turn's idempotency key to the shop, so a retried confirmation writes once."""

from __future__ import annotations

from kefu.commerce.action_base import UNVERIFIED, ActionBase
from kefu.commerce.action_inputs import (
    address,
    address_data,
    cancel_reason,
    failed,
    ids,
    item_changes,
    refused,
    text,
    verified_user,
)
from kefu.commerce.base import (
    CANCEL_REASONS,
    CancelOrder,
    ConnectorError,
    ExchangeItems,
    ModifyItems,
    ModifyOrderAddress,
    ModifyPayment,
    ModifyUserAddress,
    NewTicket,
    ReturnItems,
    ShopRefusal,
)
from kefu.commerce.rules import cents, money, refund_amount
from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.commerce import Order, Payment, TransactionType
from kefu.domain.types import JsonValue


def _missing(*names: str) -> ActionResult:
    return ActionResult(status="invalid", data={"missing": list(names)})


def _cancel_data(order: Order, reason: str) -> dict[str, JsonValue]:
    """The refunds the cancellation added: the refund entries ending the history."""
    refunds: list[Payment] = []
    for p in reversed(order.payments):
        if p.transaction_type != TransactionType.REFUND:
            break
        refunds.insert(0, p)
    listed: list[JsonValue] = [
        {"amount": p.amount, "payment_method_id": p.payment_method_id} for p in refunds
    ]
    total = money(sum(cents(p.amount) for p in refunds))
    return {"cancel_reason": reason, "refunds": listed, "refund_total": total}


def _signed_last(order: Order) -> float:
    last = order.payments[-1]
    signed = last.amount if last.transaction_type == TransactionType.PAYMENT else -last.amount
    return signed or 0.0  # a refund of 0.00 is no difference, not -0.00


class WriteActions(ActionBase):
    async def cancel_order(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, reason ("no longer needed" | "ordered by mistake", or words
        such as 不想要了 / 拍错了)."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        reason = cancel_reason(text(ctx, "reason"))
        if reason is None:
            return ActionResult(
                status="invalid", data={"missing": ["reason"], "allowed": list(CANCEL_REASONS)}
            )
        req = CancelOrder(order_id=order.order_id, reason=reason)
        write = self._orders.cancel_order(ctx.tenant, req, idempotency_key=ctx.idempotency_key)
        return await self._write(ctx, order, write, lambda new: _cancel_data(new, reason))

    async def modify_items(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, item_ids + new_item_ids (or `changes`), payment_method_id."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        old, new_ids = item_changes(ctx)
        method = text(ctx, "payment_method_id")
        if not old or not new_ids or not method:
            names = ("item_ids", "new_item_ids", "payment_method_id")
            return _missing(
                *(n for n, v in zip(names, (old, new_ids, method), strict=True) if not v)
            )
        req = ModifyItems(
            order_id=order.order_id, item_ids=old, new_item_ids=new_ids, payment_method_id=method
        )
        write = self._orders.modify_items(ctx.tenant, req, idempotency_key=ctx.idempotency_key)
        return await self._write(
            ctx,
            order,
            write,
            lambda new: {"price_difference": _signed_last(new), "payment_method_id": method},
        )

    async def modify_payment(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, payment_method_id (the new one)."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        method = text(ctx, "payment_method_id")
        if not method:
            return _missing("payment_method_id")
        req = ModifyPayment(order_id=order.order_id, payment_method_id=method)
        write = self._orders.modify_payment(ctx.tenant, req, idempotency_key=ctx.idempotency_key)
        return await self._write(ctx, order, write, lambda _n: {"payment_method_id": method})

    async def modify_address(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, and `address` (a dict) or address1, address2, city, state,
        district, country, postcode."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        new = address(ctx, order.address)
        if isinstance(new, list):
            return _missing(*new)
        req = ModifyOrderAddress(order_id=order.order_id, address=new)
        write = self._orders.modify_address(ctx.tenant, req, idempotency_key=ctx.idempotency_key)
        return await self._write(ctx, order, write, lambda o: {"address": address_data(o.address)})

    async def modify_user_address(self, ctx: ActionContext) -> ActionResult:
        """The verified customer's default address; address slots as modify_address."""
        user = verified_user(ctx)
        if user is None:
            return UNVERIFIED
        if self._customers is None:
            return ActionResult(status="error", data={"error": "no_customer_directory"})
        try:  # the country defaults to the current one, as modify_address does
            current = await self._customers.get_customer(ctx.tenant, user)
        except ConnectorError as exc:
            return failed(exc)
        new = address(ctx, current.address if current is not None else None)
        if isinstance(new, list):
            return _missing(*new)
        req = ModifyUserAddress(user_id=user, address=new)
        try:
            customer = await self._customers.modify_user_address(
                ctx.tenant, req, idempotency_key=ctx.idempotency_key
            )
        except ShopRefusal as exc:
            return refused(exc, None, ctx.lang)
        except ConnectorError as exc:
            return failed(exc)
        return ActionResult(
            status="ok",
            data={"user_id": customer.user_id, "address": address_data(customer.address)},
        )

    async def return_items(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, item_ids, payment_method_id (default: the original method)."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        items = ids(ctx, "item_ids", "item_id") or ids(ctx, "item_id", "item_id")
        original = order.payments[0].payment_method_id if order.payments else ""
        method = text(ctx, "payment_method_id") or original
        if not items or not method:
            return _missing(*(["item_ids"] if not items else []), "payment_method_id")
        req = ReturnItems(order_id=order.order_id, item_ids=items, payment_method_id=method)
        write = self._orders.return_items(ctx.tenant, req, idempotency_key=ctx.idempotency_key)
        return await self._write(
            ctx,
            order,
            write,
            lambda new: {
                "return_items": list(items),
                "refund_amount": refund_amount(new, items),
                "payment_method_id": method,
            },
        )

    async def exchange_items(self, ctx: ActionContext) -> ActionResult:
        """Slots: order_id, item_ids + new_item_ids (or `changes`), payment_method_id."""
        order = await self._owned_order(ctx, need_identity=True)
        if isinstance(order, ActionResult):
            return order
        old, new_ids = item_changes(ctx)
        method = text(ctx, "payment_method_id")
        if not old or not new_ids or not method:
            names = ("item_ids", "new_item_ids", "payment_method_id")
            return _missing(
                *(n for n, v in zip(names, (old, new_ids, method), strict=True) if not v)
            )
        req = ExchangeItems(
            order_id=order.order_id, item_ids=old, new_item_ids=new_ids, payment_method_id=method
        )
        write = self._orders.exchange_items(ctx.tenant, req, idempotency_key=ctx.idempotency_key)

        def extra(new: Order) -> dict[str, JsonValue]:
            x = new.exchange_request
            return {
                "exchange_items": list(x.item_ids) if x else [],
                "exchange_new_items": list(x.new_item_ids) if x else [],
                "price_difference": x.price_difference if x else 0.0,
                "payment_method_id": method,
            }

        return await self._write(ctx, order, write, extra)

    async def create_ticket(self, ctx: ActionContext) -> ActionResult:
        """Slots: ticket_category (default general), ticket_subject, ticket_body, order_id
        (optional; must be the customer's). Works without verification (user unverified)."""
        if self._tickets is None:
            return ActionResult(status="error", data={"error": "no_ticket_service"})
        user = verified_user(ctx)
        order_id = text(ctx, "order_id") or None
        if order_id is not None:
            owned = await self._owned_order(ctx, need_identity=False)
            if isinstance(owned, ActionResult) and owned.status != "not_found":
                return owned
            order_id = owned.order_id if isinstance(owned, Order) else None
        category = text(ctx, "ticket_category")[:64] or "general"
        req = NewTicket(
            category=category,
            subject=text(ctx, "ticket_subject")[:200] or category,
            body=text(ctx, "ticket_body"),
            user_id=user or ctx.user_id,
            verified=user is not None,
            order_id=order_id,
        )
        try:
            ticket = await self._tickets.create_ticket(
                ctx.tenant, req, idempotency_key=ctx.idempotency_key
            )
        except ShopRefusal as exc:
            return refused(exc, None, ctx.lang)
        except ConnectorError as exc:
            return failed(exc)
        return ActionResult(
            status="ok",
            data={
                "ticket_id": ticket.ticket_id,
                "category": ticket.category,
                "status": ticket.status,
            },
        )
