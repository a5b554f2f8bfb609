"""Rows <-> domain objects for the SQL shop store, loaded and written in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu.commerce import sql_schema as t
from kefu.commerce.identity import normalize_email, normalize_phone, normalize_zip
from kefu.commerce.rules import cents, money
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
    Ticket,
    TrackingEvent,
    Variant,
)

CHUNK = 500  # ids per IN (...) clause


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _address_json(a: Address | None) -> str | None:
    if a is None:
        return None
    return dumps(
        {
            "address1": a.address1,
            "address2": a.address2,
            "city": a.city,
            "state": a.state,
            "country": a.country,
            "zip": a.zip,
            "district": a.district,
        }
    )


def _address(text: str | None) -> Address | None:
    data = loads(text)
    return Address(**data) if data is not None else None


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


async def _rows(conn: AsyncConnection, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    return list((await conn.execute(query)).all())


async def load_children(
    conn: AsyncConnection, table: sa.Table, tenant: str, column: str, ids: Sequence[str]
) -> list[sa.Row[Any]]:
    out: list[sa.Row[Any]] = []
    col = table.c[column]
    for part in _chunks(list(dict.fromkeys(ids))):
        out += await _rows(conn, sa.select(table).where(table.c.tenant == tenant, col.in_(part)))
    return out


# -- customers ----------------------------------------------------------------------------


def customer_row(tenant: str, c: Customer, position: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "user_id": c.user_id,
        "position": position,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "email_norm": normalize_email(c.email),
        "phone": c.phone,
        "phone_norm": normalize_phone(c.phone),
        "zip_norm": normalize_zip(c.address.zip) if c.address else "",
        "address": _address_json(c.address),
        "created_at": c.created_at,
    }


def method_rows(tenant: str, c: Customer) -> list[dict[str, Any]]:
    return [
        {
            "tenant": tenant,
            "user_id": c.user_id,
            "payment_method_id": p.payment_method_id,
            "position": i,
            "kind": p.kind,
            "brand": p.brand,
            "last_four": p.last_four,
            "balance_cents": cents(p.balance) if p.balance is not None else None,
        }
        for i, p in enumerate(c.payment_methods)
    ]


async def load_customers(
    conn: AsyncConnection, tenant: str, where: sa.ColumnElement[bool] | None = None
) -> list[Customer]:
    q = sa.select(t.customers).where(t.customers.c.tenant == tenant)
    rows = await _rows(conn, (q if where is None else q.where(where)).order_by("position"))
    pms = await load_children(conn, t.payment_methods, tenant, "user_id", [r.user_id for r in rows])
    by_user: dict[str, list[sa.Row[Any]]] = defaultdict(list)
    for p in sorted(pms, key=lambda p: p.position):
        by_user[p.user_id].append(p)
    return [
        Customer(
            user_id=r.user_id,
            first_name=r.first_name,
            last_name=r.last_name,
            email=r.email,
            phone=r.phone,
            address=_address(r.address),
            created_at=r.created_at,
            payment_methods=tuple(
                PaymentMethod(
                    payment_method_id=p.payment_method_id,
                    kind=p.kind,
                    brand=p.brand,
                    last_four=p.last_four,
                    balance=money(p.balance_cents) if p.balance_cents is not None else None,
                )
                for p in by_user[r.user_id]
            ),
        )
        for r in rows
    ]


# -- products -----------------------------------------------------------------------------


def product_rows(
    tenant: str, p: Product, position: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {"tenant": tenant, "product_id": p.product_id, "position": position, "name": p.name}
    return row, [
        {
            "tenant": tenant,
            "item_id": v.item_id,
            "product_id": p.product_id,
            "position": i,
            "options": dumps(v.options),
            "available": v.available,
            "price_cents": cents(v.price),
            "stock": v.stock,
        }
        for i, v in enumerate(p.variants)
    ]


def variant(r: sa.Row[Any]) -> Variant:
    return Variant(
        item_id=r.item_id,
        product_id=r.product_id,
        options=loads(r.options),
        price=money(r.price_cents),
        available=bool(r.available),
        stock=r.stock,
    )


async def load_products(
    conn: AsyncConnection, tenant: str, where: sa.ColumnElement[bool] | None = None
) -> list[Product]:
    q = sa.select(t.products).where(t.products.c.tenant == tenant)
    rows = await _rows(conn, (q if where is None else q.where(where)).order_by("position"))
    vs = await load_children(conn, t.variants, tenant, "product_id", [r.product_id for r in rows])
    by_product: dict[str, list[Variant]] = defaultdict(list)
    for v in sorted(vs, key=lambda v: v.position):
        by_product[v.product_id].append(variant(v))
    return [
        Product(product_id=r.product_id, name=r.name, variants=tuple(by_product[r.product_id]))
        for r in rows
    ]


# -- orders -------------------------------------------------------------------------------


def order_row(tenant: str, o: Order, position: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "order_id": o.order_id,
        "user_id": o.user_id,
        "position": position,
        "status": o.status,
        "currency": o.currency,
        "created_at": o.created_at,
        "address": _address_json(o.address),
        "cancel_reason": o.cancel_reason,
    }


def order_children(tenant: str, o: Order) -> dict[sa.Table, list[dict[str, Any]]]:
    """Rows of an order's lines, parcels, payments, return and exchange (not events)."""
    base = {"tenant": tenant, "order_id": o.order_id}
    after: list[dict[str, Any]] = []
    if (r := o.return_request) is not None:
        after.append({**base, "kind": "return", "item_ids": dumps(r.item_ids),
                      "new_item_ids": None, "payment_method_id": r.payment_method_id,
                      "price_difference_cents": None})  # fmt: skip
    if (x := o.exchange_request) is not None:
        after.append({**base, "kind": "exchange", "item_ids": dumps(x.item_ids),
                      "new_item_ids": dumps(x.new_item_ids),
                      "payment_method_id": x.payment_method_id,
                      "price_difference_cents": cents(x.price_difference)})  # fmt: skip
    return {
        t.order_items: [
            {**base, "line": i, "item_id": x.item_id, "product_id": x.product_id,
             "name": x.name, "options": dumps(x.options), "price_cents": cents(x.price),
             "quantity": x.quantity}
            for i, x in enumerate(o.items)
        ],
        t.fulfilments: [
            {**base, "seq": i, "courier": s.courier, "tracking_number": s.tracking_number,
             "item_ids": dumps(s.item_ids)}
            for i, s in enumerate(o.shipments)
        ],
        t.payments: [
            {**base, "seq": i, "transaction_type": p.transaction_type,
             "amount_cents": cents(p.amount), "payment_method_id": p.payment_method_id}
            for i, p in enumerate(o.payments)
        ],
        t.after_sales: after,
    }  # fmt: skip


def event_rows(tenant: str, number: str, events: Iterable[TrackingEvent]) -> list[dict[str, Any]]:
    return [
        {
            "tenant": tenant,
            "tracking_number": number,
            "ts": e.ts,
            "description": e.description,
            "location": e.location,
        }
        for e in events
    ]


def _grouped(rows: list[sa.Row[Any]], order_by: str) -> dict[str, list[sa.Row[Any]]]:
    out: dict[str, list[sa.Row[Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: getattr(r, order_by)):
        out[r.order_id].append(r)
    return out


async def load_events(
    conn: AsyncConnection, tenant: str, numbers: Sequence[str]
) -> dict[str, tuple[TrackingEvent, ...]]:
    rows = await load_children(conn, t.tracking_events, tenant, "tracking_number", numbers)
    out: dict[str, list[TrackingEvent]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.ts, r.id)):
        out[r.tracking_number].append(
            TrackingEvent(ts=r.ts, description=r.description, location=r.location)
        )
    return {k: tuple(v) for k, v in out.items()}


async def load_orders(
    conn: AsyncConnection, tenant: str, where: sa.ColumnElement[bool] | None = None
) -> list[Order]:
    q = sa.select(t.orders).where(t.orders.c.tenant == tenant)
    rows = await _rows(conn, (q if where is None else q.where(where)).order_by("position"))
    ids = [r.order_id for r in rows]
    items = _grouped(await load_children(conn, t.order_items, tenant, "order_id", ids), "line")
    ships = _grouped(await load_children(conn, t.fulfilments, tenant, "order_id", ids), "seq")
    pays = _grouped(await load_children(conn, t.payments, tenant, "order_id", ids), "seq")
    after = _grouped(await load_children(conn, t.after_sales, tenant, "order_id", ids), "kind")
    numbers = [s.tracking_number for v in ships.values() for s in v]
    events = await load_events(conn, tenant, numbers)
    return [_order(r, items, ships, pays, after, events) for r in rows]


def _order(
    r: sa.Row[Any],
    items: dict[str, list[sa.Row[Any]]],
    ships: dict[str, list[sa.Row[Any]]],
    pays: dict[str, list[sa.Row[Any]]],
    after: dict[str, list[sa.Row[Any]]],
    events: dict[str, tuple[TrackingEvent, ...]],
) -> Order:
    kinds = {a.kind: a for a in after.get(r.order_id, [])}
    ret, exc = kinds.get("return"), kinds.get("exchange")
    return Order(
        order_id=r.order_id,
        user_id=r.user_id,
        status=r.status,
        created_at=r.created_at,
        currency=r.currency,
        address=_address(r.address),
        cancel_reason=r.cancel_reason,
        items=tuple(
            OrderItem(item_id=i.item_id, product_id=i.product_id, name=i.name,
                      options=loads(i.options), price=money(i.price_cents), quantity=i.quantity)
            for i in items.get(r.order_id, [])
        ),
        shipments=tuple(
            Shipment(courier=s.courier, tracking_number=s.tracking_number,
                     item_ids=tuple(loads(s.item_ids)), events=events.get(s.tracking_number, ()))
            for s in ships.get(r.order_id, [])
        ),
        payments=tuple(
            Payment(transaction_type=p.transaction_type, amount=money(p.amount_cents),
                    payment_method_id=p.payment_method_id)
            for p in pays.get(r.order_id, [])
        ),
        return_request=ReturnRequest(item_ids=tuple(loads(ret.item_ids)),
                                     payment_method_id=ret.payment_method_id) if ret else None,
        exchange_request=ExchangeRequest(
            item_ids=tuple(loads(exc.item_ids)), new_item_ids=tuple(loads(exc.new_item_ids)),
            payment_method_id=exc.payment_method_id,
            price_difference=money(exc.price_difference_cents)) if exc else None,
    )  # fmt: skip


# -- tickets ------------------------------------------------------------------------------


def ticket_row(tenant: str, k: Ticket, position: int) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "ticket_id": k.ticket_id,
        "position": position,
        "category": k.category,
        "subject": k.subject,
        "body": k.body,
        "user_id": k.user_id,
        "verified": k.verified,
        "order_id": k.order_id,
        "status": k.status,
        "created_at": k.created_at,
    }


async def load_tickets(
    conn: AsyncConnection, tenant: str, where: sa.ColumnElement[bool] | None = None
) -> list[Ticket]:
    q = sa.select(t.tickets).where(t.tickets.c.tenant == tenant)
    rows = await _rows(conn, (q if where is None else q.where(where)).order_by("position"))
    return [
        Ticket(
            ticket_id=r.ticket_id,
            category=r.category,
            subject=r.subject,
            body=r.body,
            user_id=r.user_id,
            verified=bool(r.verified),
            order_id=r.order_id,
            status=r.status,
            created_at=r.created_at,
        )
        for r in rows
    ]
