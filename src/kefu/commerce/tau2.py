"""τ²-bench retail `db.json` <-> ShopData, so import -> export gives the same document.

The τ²-bench shape: `{"products": {id: {name, product_id, variants: {item_id: {item_id,
options, available, price}}}}, "users": {id: {user_id, name: {first_name, last_name},
address, email, payment_methods: {id: {source, id, ...}}, orders: [ids]}}, "orders": {id:
{order_id, user_id, address, items: [{name, product_id, item_id, price, options}], status,
fulfillments: [{tracking_id: [..], item_ids}], payment_history: [{transaction_type, amount,
payment_method_id}], + optional fields the writes add}}}`. Dicts keep their order; kefu
keeps it in `position` columns. A user's `orders` list is rebuilt from the orders in file
order (the import checks it agrees). Orders carry no time and are in USD.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu.commerce.base import (
    CancelOrder,
    ExchangeItems,
    ModifyItems,
    ModifyOrderAddress,
    ModifyPayment,
    ModifyUserAddress,
    ReturnItems,
    Shop,
)
from kefu.domain.commerce import (
    Address,
    Customer,
    ExchangeRequest,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Product,
    ReturnRequest,
    Shipment,
    ShopData,
    Variant,
)

CURRENCY = "USD"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class T2Address(_M):
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


class T2Variant(_M):
    item_id: str
    options: dict[str, str]
    available: bool
    price: float


class T2Product(_M):
    name: str
    product_id: str
    variants: dict[str, T2Variant]


class T2Name(_M):
    first_name: str
    last_name: str


class T2PaymentMethod(_M):
    source: str
    id: str
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = None


class T2User(_M):
    user_id: str
    name: T2Name
    address: T2Address
    email: str
    payment_methods: dict[str, T2PaymentMethod]
    orders: list[str] = Field(default_factory=list)


class T2Item(_M):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, str]


class T2Fulfillment(_M):
    tracking_id: list[str] = Field(min_length=1, max_length=1)
    item_ids: list[str]


class T2Payment(_M):
    transaction_type: Literal["payment", "refund"]
    amount: float
    payment_method_id: str


class T2Order(_M):
    order_id: str
    user_id: str
    address: T2Address
    items: list[T2Item]
    status: str
    fulfillments: list[T2Fulfillment]
    payment_history: list[T2Payment]
    cancel_reason: str | None = None
    exchange_items: list[str] | None = None
    exchange_new_items: list[str] | None = None
    exchange_payment_method_id: str | None = None
    exchange_price_difference: float | None = None
    return_items: list[str] | None = None
    return_payment_method_id: str | None = None


class T2Db(_M):
    products: dict[str, T2Product]
    users: dict[str, T2User]
    orders: dict[str, T2Order]


class Tau2FormatError(ValueError):
    """The document is not a τ²-bench retail db kefu can load."""


def _address(a: T2Address) -> Address:
    return Address(
        address1=a.address1,
        address2=a.address2,
        city=a.city,
        country=a.country,
        state=a.state,
        zip=a.zip,
    )


def _customer(u: T2User) -> Customer:
    methods = tuple(
        PaymentMethod(
            payment_method_id=p.id,
            kind=p.source,
            brand=p.brand,
            last_four=p.last_four,
            balance=p.balance,
        )
        for p in u.payment_methods.values()
    )
    return Customer(
        user_id=u.user_id,
        first_name=u.name.first_name,
        last_name=u.name.last_name,
        email=u.email,
        address=_address(u.address),
        payment_methods=methods,
    )


def _order(o: T2Order) -> Order:
    exchange = None
    if o.exchange_items is not None:
        exchange = ExchangeRequest(
            item_ids=tuple(o.exchange_items),
            new_item_ids=tuple(o.exchange_new_items or ()),
            payment_method_id=o.exchange_payment_method_id or "",
            price_difference=o.exchange_price_difference or 0.0,
        )
    ret = None
    if o.return_items is not None:
        ret = ReturnRequest(
            item_ids=tuple(o.return_items), payment_method_id=o.return_payment_method_id or ""
        )
    return Order(
        order_id=o.order_id,
        user_id=o.user_id,
        status=o.status,
        items=tuple(
            OrderItem(
                item_id=i.item_id,
                product_id=i.product_id,
                name=i.name,
                options=dict(i.options),
                price=i.price,
            )
            for i in o.items
        ),
        currency=CURRENCY,
        shipments=tuple(
            Shipment(courier="", tracking_number=f.tracking_id[0], item_ids=tuple(f.item_ids))
            for f in o.fulfillments
        ),
        address=_address(o.address),
        payments=tuple(
            Payment(
                transaction_type=p.transaction_type,
                amount=p.amount,
                payment_method_id=p.payment_method_id,
            )
            for p in o.payment_history
        ),
        cancel_reason=o.cancel_reason,
        return_request=ret,
        exchange_request=exchange,
    )


def from_tau2(doc: Any) -> ShopData:
    """Read a τ²-bench retail db (already parsed JSON). Raises Tau2FormatError."""
    try:
        db = T2Db.model_validate(doc)
    except ValueError as exc:
        raise Tau2FormatError(str(exc)) from exc
    derived: dict[str, list[str]] = {}
    for oid, o in db.orders.items():
        if oid != o.order_id:
            raise Tau2FormatError(f"order {oid}: the key differs from its id")
        derived.setdefault(o.user_id, []).append(oid)
    for uid, u in db.users.items():
        if uid != u.user_id or u.orders != derived.get(uid, []):
            raise Tau2FormatError(f"user {uid}: `orders` disagrees with the orders in the file")
    for key, p in db.products.items():
        if key != p.product_id or any(k != v.item_id for k, v in p.variants.items()):
            raise Tau2FormatError(f"product {key}: a key differs from its id")
    products = tuple(
        Product(
            product_id=p.product_id,
            name=p.name,
            variants=tuple(
                Variant(
                    item_id=v.item_id,
                    product_id=p.product_id,
                    options=dict(v.options),
                    price=v.price,
                    available=v.available,
                )
                for v in p.variants.values()
            ),
        )
        for p in db.products.values()
    )
    return ShopData(
        customers=tuple(_customer(u) for u in db.users.values()),
        products=products,
        orders=tuple(_order(o) for o in db.orders.values()),
    )


def _address_out(a: Address | None) -> dict[str, str]:
    if a is None:
        return {"address1": "", "address2": "", "city": "", "country": "", "state": "", "zip": ""}
    return {
        "address1": a.address1,
        "address2": a.address2,
        "city": a.city,
        "country": a.country,
        "state": a.state,
        "zip": a.zip,
    }


def _method_out(p: PaymentMethod) -> dict[str, Any]:
    out: dict[str, Any] = {"source": p.kind, "id": p.payment_method_id}
    if p.brand is not None:
        out["brand"] = p.brand
    if p.last_four is not None:
        out["last_four"] = p.last_four
    if p.balance is not None:
        out["balance"] = p.balance
    return out


def _order_out(o: Order) -> dict[str, Any]:
    out: dict[str, Any] = {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "address": _address_out(o.address),
        "items": [
            {
                "name": i.name,
                "product_id": i.product_id,
                "item_id": i.item_id,
                "price": i.price,
                "options": dict(i.options),
            }
            for i in o.items
            for _ in range(i.quantity)
        ],
        "status": o.status,
        "fulfillments": [
            {"tracking_id": [s.tracking_number], "item_ids": list(s.item_ids)} for s in o.shipments
        ],
        "payment_history": [
            {
                "transaction_type": p.transaction_type,
                "amount": p.amount,
                "payment_method_id": p.payment_method_id,
            }
            for p in o.payments
        ],
    }
    if o.cancel_reason is not None:
        out["cancel_reason"] = o.cancel_reason
    if (x := o.exchange_request) is not None:
        out["exchange_items"] = list(x.item_ids)
        out["exchange_new_items"] = list(x.new_item_ids)
        out["exchange_payment_method_id"] = x.payment_method_id
        out["exchange_price_difference"] = x.price_difference
    if (r := o.return_request) is not None:
        out["return_items"] = list(r.item_ids)
        out["return_payment_method_id"] = r.payment_method_id
    return out


def to_tau2(data: ShopData) -> dict[str, Any]:
    """The τ²-bench document of a shop (kefu-only fields such as phone are left out)."""
    orders_of: dict[str, list[str]] = {}
    for o in data.orders:
        orders_of.setdefault(o.user_id, []).append(o.order_id)
    return {
        "products": {
            p.product_id: {
                "name": p.name,
                "product_id": p.product_id,
                "variants": {
                    v.item_id: {
                        "item_id": v.item_id,
                        "options": dict(v.options),
                        "available": v.available,
                        "price": v.price,
                    }
                    for v in p.variants
                },
            }
            for p in data.products
        },
        "users": {
            c.user_id: {
                "user_id": c.user_id,
                "name": {"first_name": c.first_name, "last_name": c.last_name},
                "address": _address_out(c.address),
                "email": c.email,
                "payment_methods": {p.payment_method_id: _method_out(p) for p in c.payment_methods},
                "orders": orders_of.get(c.user_id, []),
            }
            for c in data.customers
        },
        "orders": {o.order_id: _order_out(o) for o in data.orders},
    }


WRITE_TOOLS = frozenset(
    {
        "cancel_pending_order",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_pending_order_address",
        "modify_user_address",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
    }
)


def _tool_address(args: dict[str, Any]) -> Address:
    return Address(
        address1=args["address1"],
        address2=args["address2"],
        city=args["city"],
        state=args["state"],
        country=args["country"],
        zip=args["zip"],
    )


async def apply_tool(
    shop: Shop, tenant: str, name: str, args: dict[str, Any], *, idempotency_key: str
) -> Order | Customer | None:
    """Apply one τ²-bench retail write tool call to a shop (what a gold action does);
    read tools are ignored (None). Raises ShopRefusal as the tool would raise an error."""
    key = idempotency_key
    oid = str(args.get("order_id", ""))
    items = tuple(args.get("item_ids", ()))
    new = tuple(args.get("new_item_ids", ()))
    pm = str(args.get("payment_method_id", ""))
    if name == "cancel_pending_order":
        req = CancelOrder(order_id=oid, reason=args["reason"])
        return await shop.cancel_order(tenant, req, idempotency_key=key)
    if name == "modify_pending_order_items":
        mi = ModifyItems(order_id=oid, item_ids=items, new_item_ids=new, payment_method_id=pm)
        return await shop.modify_items(tenant, mi, idempotency_key=key)
    if name == "modify_pending_order_payment":
        mp = ModifyPayment(order_id=oid, payment_method_id=pm)
        return await shop.modify_payment(tenant, mp, idempotency_key=key)
    if name == "modify_pending_order_address":
        ma = ModifyOrderAddress(order_id=oid, address=_tool_address(args))
        return await shop.modify_address(tenant, ma, idempotency_key=key)
    if name == "modify_user_address":
        mu = ModifyUserAddress(user_id=args["user_id"], address=_tool_address(args))
        return await shop.modify_user_address(tenant, mu, idempotency_key=key)
    if name == "return_delivered_order_items":
        ri = ReturnItems(order_id=oid, item_ids=items, payment_method_id=pm)
        return await shop.return_items(tenant, ri, idempotency_key=key)
    if name == "exchange_delivered_order_items":
        ei = ExchangeItems(order_id=oid, item_ids=items, new_item_ids=new, payment_method_id=pm)
        return await shop.exchange_items(tenant, ei, idempotency_key=key)
    return None
