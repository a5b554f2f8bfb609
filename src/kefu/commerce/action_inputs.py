"""Reading action inputs from slots, and turning shop answers into ActionResults."""

from __future__ import annotations

import re
from collections.abc import Mapping

from kefu.commerce.base import CANCEL_REASONS, ConnectorError, RefusalCode, ShopRefusal
from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.commerce import Address, Order, OrderItem, Variant, status_label
from kefu.domain.types import JsonValue

MAX_ID_CHARS = 128
_SPLIT = re.compile(r"[\s,，、;；]+")

REASON_WORDS: dict[str, tuple[str, ...]] = {
    "no longer needed": ("no longer need", "don't need", "dont need", "不需要", "不想要",
                         "不要了", "用不上", "用不到"),
    "ordered by mistake": ("mistake", "wrong", "买错", "拍错", "下错", "误购", "点错"),
}  # fmt: skip
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip", "district")
FLAT_ADDRESS = {"postcode": "zip", "address_zip": "zip"}


def text(ctx: ActionContext, name: str) -> str:
    value = ctx.slots.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip()[:2000] if isinstance(value, str) else ""


def verified_user(ctx: ActionContext) -> str | None:
    """The customer this conversation serves: a trusted channel login, else the slot
    `verified_user_id` that verify_customer's result set."""
    if ctx.user_verified and ctx.user_id:
        return ctx.user_id
    value = ctx.slots.get("verified_user_id")
    return value if isinstance(value, str) and value else None


def _id_of(value: JsonValue, keys: tuple[str, ...]) -> list[str]:
    if isinstance(value, str):
        return [p for p in _SPLIT.split(value) if p]
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list):
        return [i for v in value for i in _id_of(v, keys)]
    if isinstance(value, dict):
        if "selected" in value:
            return _id_of(value["selected"], keys)
        for k in keys:
            if k in value:
                return _id_of(value[k], keys)
    return []


def ids(ctx: ActionContext, name: str, *keys: str) -> tuple[str, ...]:
    """Ids from a slot: "a,b", ["a", "b"], [{"item_id": "a"}], {"selected": [...]}."""
    found = _id_of(ctx.slots.get(name), keys or ("item_id", "id"))
    return tuple(i[:MAX_ID_CHARS] for i in found)


def item_changes(ctx: ActionContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(item_ids, new_item_ids) from `changes` [{item_id, new_item_id}] or the two lists."""
    changes = ctx.slots.get("changes")
    if isinstance(changes, list) and changes:
        old = [_id_of(c.get("item_id"), ()) if isinstance(c, dict) else [] for c in changes]
        new = [_id_of(c.get("new_item_id"), ()) if isinstance(c, dict) else [] for c in changes]
        return tuple(x for o in old for x in o), tuple(x for n in new for x in n)
    old_ids = ids(ctx, "item_ids", "item_id") or ids(ctx, "item_id", "item_id")
    new_ids = ids(ctx, "new_item_ids", "new_item_id", "item_id") or ids(
        ctx, "new_item_id", "new_item_id", "item_id"
    )
    return old_ids, new_ids


def cancel_reason(value: str) -> str | None:
    v = value.strip().casefold()
    if v.replace("_", " ") in CANCEL_REASONS:
        return v.replace("_", " ")
    for reason, words in REASON_WORDS.items():
        if any(w in v for w in words):
            return reason
    return None


def address(ctx: ActionContext, default: Address | None) -> Address | list[str]:
    """The new address from slot `address` (a dict) or flat slots; or the missing fields."""
    raw = ctx.slots.get("address")
    got: dict[str, str] = {}
    if isinstance(raw, dict):
        got = {k: str(v).strip()[:200] for k, v in raw.items() if k in ADDRESS_FIELDS and v}
    else:
        for name in (*ADDRESS_FIELDS[:5], "district", *FLAT_ADDRESS):
            if value := text(ctx, name):
                got[FLAT_ADDRESS.get(name, name)] = value[:200]
    if "country" not in got and default is not None:
        got["country"] = default.country
    missing = [f for f in ("address1", "city", "state", "country", "zip") if not got.get(f)]
    if missing:
        return missing
    return Address(
        address1=got["address1"],
        address2=got.get("address2", ""),
        city=got["city"],
        state=got["state"],
        country=got["country"],
        zip=got["zip"],
        district=got.get("district", ""),
    )


def address_data(a: Address | None) -> dict[str, JsonValue] | None:
    if a is None:
        return None
    return {f: getattr(a, f) for f in ADDRESS_FIELDS}


def options_text(options: Mapping[str, str], lang: str) -> str:
    sep = "，" if lang == "zh" else ", "
    return sep.join(f"{k}: {v}" if lang != "zh" else f"{k}{v}" for k, v in options.items())


def line_label(line: OrderItem, lang: str, *, quantity: bool = True) -> str:
    """A line as the customer sees it, 保温水杯 500ml（颜色蓝色） ×2; without the quantity,
    what one unit of it is called."""
    opts = options_text(line.options, lang)
    qty = f" ×{line.quantity}" if quantity and line.quantity > 1 else ""
    return f"{line.name}（{opts}）{qty}" if opts else f"{line.name}{qty}"


def variant_label(v: Variant, lang: str, name: str = "") -> str:
    opts = options_text(v.options, lang) or v.item_id
    price = f"¥{v.price:.2f}" if lang == "zh" else f"{v.price:.2f}"
    return f"{name} {opts} {price}".strip()


def summary(order: Order, lang: str) -> str:
    names = [line_label(i, lang) for i in order.items]
    head = "、".join(names[:2]) if lang == "zh" else ", ".join(names[:2])
    more = len(order.items) - 2
    if more > 0:
        head += f" 等{len(order.items)}件" if lang == "zh" else f" and {more} more"
    return head


def order_option(order: Order, lang: str) -> dict[str, JsonValue]:
    label = status_label(order.status, lang)
    return {
        "order_id": order.order_id,
        "status": order.status,
        "status_label": label,
        "summary": summary(order, lang),
        "total": order.total,
        "currency": order.currency,
        "created_at": order.created_at,
        "label": f"{order.order_id} · {label} · {summary(order, lang)}",
        "payload": {"order_id": order.order_id},
    }


def refused(exc: ShopRefusal, order: Order | None, lang: str) -> ActionResult:
    data: dict[str, JsonValue] = {"reason": exc.message, **exc.details}
    if order is not None:
        data.setdefault("order_id", order.order_id)
        data["status_label"] = status_label(str(data.get("status", order.status)), lang)
    status = "error" if exc.code == RefusalCode.IDEMPOTENCY_CONFLICT else str(exc.code)
    return ActionResult(status=status, data=data)


def failed(exc: ConnectorError) -> ActionResult:
    return ActionResult(status="error", data={"error": "connector", "reason": str(exc)[:200]})
