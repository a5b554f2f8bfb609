"""Read helpers for choosing: a product's variants, the customer's payment methods."""

from __future__ import annotations

from kefu.commerce.action_base import UNVERIFIED, ActionBase
from kefu.commerce.action_inputs import failed, options_text, text, variant_label, verified_user
from kefu.commerce.base import ConnectorError
from kefu.commerce.rules import cents, money, payment_changeable
from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.commerce import Product, Variant
from kefu.domain.types import JsonValue

PURPOSES = ("any", "modify_payment", "refund")


def _variant(v: Variant, lang: str, name: str, base: float | None) -> dict[str, JsonValue]:
    diff = money(cents(v.price) - cents(base)) if base is not None else None
    return {
        "item_id": v.item_id,
        "options": dict(v.options),
        "options_text": options_text(v.options, lang),
        "price": v.price,
        "price_difference": diff,
        "available": v.in_stock,
        "label": variant_label(v, lang, name),
        "payload": {"new_item_id": v.item_id},
    }


def _matches(v: Variant, query: str) -> int:
    """How many of the variant's option values the customer's words mention."""
    q = query.casefold()
    return sum(1 for value in v.options.values() if value and value.casefold() in q)


class CatalogActions(ActionBase):
    async def _product(self, ctx: ActionContext) -> tuple[Product, Variant | None] | ActionResult:
        if self._catalog is None:
            return ActionResult(status="error", data={"error": "no_catalog"})
        product_id, item_id = text(ctx, "product_id"), text(ctx, "item_id")
        try:
            current = await self._catalog.get_variant(ctx.tenant, item_id) if item_id else None
            if current is not None:
                product_id = current.product_id
            product = (
                await self._catalog.get_product(ctx.tenant, product_id) if product_id else None
            )
        except ConnectorError as exc:
            return failed(exc)
        if product is None:
            return ActionResult(status="not_found", data={"product_id": product_id})
        return product, current

    async def get_product(self, ctx: ActionContext) -> ActionResult:
        got = await self._product(ctx)
        if isinstance(got, ActionResult):
            return got
        product, current = got
        base = current.price if current else None
        variants: list[JsonValue] = [
            _variant(v, ctx.lang, product.name, base) for v in product.variants
        ]
        return ActionResult(
            status="ok",
            data={"product_id": product.product_id, "name": product.name, "variants": variants},
        )

    async def list_variants(self, ctx: ActionContext) -> ActionResult:
        """In-stock variants of the product of slot `item_id` (itself left out) or
        `product_id`; with slot `variant_query`, those the words name come first."""
        got = await self._product(ctx)
        if isinstance(got, ActionResult):
            return got
        product, current = got
        query = text(ctx, "variant_query")
        offered = [
            v
            for v in product.variants
            if v.in_stock and (current is None or v.item_id != current.item_id)
        ]
        if query:
            scored = [(v, _matches(v, query)) for v in offered]
            best = max((s for _, s in scored), default=0)
            offered = [v for v, s in scored if s == best] if best else offered
        base = current.price if current else None
        variants: list[JsonValue] = [_variant(v, ctx.lang, product.name, base) for v in offered]
        return ActionResult(
            status="ok" if variants else "out_of_stock",
            data={
                "product_id": product.product_id,
                "name": product.name,
                "current_item_id": current.item_id if current else None,
                "variants": variants,
                "count": len(variants),
            },
        )

    async def list_payment_methods(self, ctx: ActionContext) -> ActionResult:
        """The verified customer's payment methods. Slot `payment_purpose`: any (default),
        modify_payment (not the order's current one; `invalid` when its payment cannot
        change), refund (the order's original one and gift cards); the last two read slot
        `order_id`."""
        user = verified_user(ctx)
        if user is None:
            return UNVERIFIED
        if self._customers is None:
            return ActionResult(status="error", data={"error": "no_customer_directory"})
        purpose = text(ctx, "payment_purpose") or "any"
        if purpose not in PURPOSES:
            return ActionResult(status="invalid", data={"reason": f"purpose one of {PURPOSES}"})
        original: str | None = None
        if purpose != "any":
            order = await self._owned_order(ctx, need_identity=True)
            if isinstance(order, ActionResult):
                return order
            if purpose == "modify_payment" and not payment_changeable(order):
                reason = "the order's payment has changed already or has several transactions"
                return ActionResult(status="invalid", data={"reason": reason})
            original = order.payments[0].payment_method_id if order.payments else None
        try:
            customer = await self._customers.get_customer(ctx.tenant, user)
        except ConnectorError as exc:
            return failed(exc)
        if customer is None:
            return ActionResult(status="not_found", data={"user_id": user})
        methods = [
            m
            for m in customer.payment_methods
            if purpose == "any"
            or (purpose == "modify_payment" and m.payment_method_id != original)
            or (purpose == "refund" and (m.is_gift_card or m.payment_method_id == original))
        ]
        listed: list[JsonValue] = [
            {
                "payment_method_id": m.payment_method_id,
                "kind": m.kind,
                "label": m.label(ctx.lang),
                "balance": m.balance,
                "is_original": m.payment_method_id == original,
                "payload": {"payment_method_id": m.payment_method_id},
            }
            for m in methods
        ]
        return ActionResult(
            status="ok" if listed else "not_found",
            data={"payment_methods": listed, "count": len(listed), "original": original},
        )
