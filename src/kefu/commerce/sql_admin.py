"""Bulk load and dump of a tenant's shop in the SQL store (import, export, demo)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu.commerce import sql_rows as rows
from kefu.commerce import sql_schema as t
from kefu.commerce.base import Progress
from kefu.commerce.memory import merge_events
from kefu.domain.commerce import ShopData, TrackingEvent

BATCH = 200


async def _insert(conn: AsyncConnection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    for i in range(0, len(values), 1000):
        await conn.execute(sa.insert(table), values[i : i + 1000])


async def next_position(conn: AsyncConnection, table: sa.Table, tenant: str) -> int:
    last = await conn.scalar(
        sa.select(sa.func.coalesce(sa.func.max(table.c.position), -1)).where(
            table.c.tenant == tenant
        )
    )
    return int(last if last is not None else -1) + 1


async def _delete_ids(
    conn: AsyncConnection, tenant: str, tables: Sequence[sa.Table], column: str, ids: list[str]
) -> None:
    for table in tables:
        for i in range(0, len(ids), rows.CHUNK):
            await conn.execute(
                sa.delete(table).where(
                    table.c.tenant == tenant, table.c[column].in_(ids[i : i + rows.CHUNK])
                )
            )


class SqlShopAdmin:
    """Creates the tables and moves whole shops in and out."""

    def __init__(self, engine: AsyncEngine, *, dispose_engine: bool = False) -> None:
        self._engine = engine
        self._dispose = dispose_engine

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)

    async def close(self) -> None:
        """Disposes the engine only when told it belongs to this store."""
        if self._dispose:
            await self._engine.dispose()

    async def has_orders(self, tenant: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.scalar(
                sa.select(t.orders.c.order_id).where(t.orders.c.tenant == tenant).limit(1)
            )
        return found is not None

    async def load(
        self, tenant: str, data: ShopData, *, replace: bool = True, progress: Progress | None = None
    ) -> None:
        """Store a shop in one transaction. Without `replace`, records with the same ids
        are replaced and the others appended."""
        async with self._engine.begin() as conn:
            if replace:
                for table in t.TENANT_TABLES:
                    await conn.execute(sa.delete(table).where(table.c.tenant == tenant))
            else:
                await self._delete_same_ids(conn, tenant, data)
            await self._load_customers(conn, tenant, data, progress)
            await self._load_products(conn, tenant, data, progress)
            await self._load_orders(conn, tenant, data, progress)
            start = await next_position(conn, t.tickets, tenant)
            await _insert(
                conn,
                t.tickets,
                [rows.ticket_row(tenant, k, start + i) for i, k in enumerate(data.tickets)],
            )

    @staticmethod
    async def _delete_same_ids(conn: AsyncConnection, tenant: str, data: ShopData) -> None:
        users = [c.user_id for c in data.customers]
        await _delete_ids(conn, tenant, (t.payment_methods, t.customers), "user_id", users)
        products = [p.product_id for p in data.products]
        await _delete_ids(conn, tenant, (t.variants, t.products), "product_id", products)
        order_tables = (t.after_sales, t.payments, t.fulfilments, t.order_items, t.orders)
        await _delete_ids(conn, tenant, order_tables, "order_id", [o.order_id for o in data.orders])
        await _delete_ids(
            conn, tenant, (t.tickets,), "ticket_id", [k.ticket_id for k in data.tickets]
        )
        numbers = [s.tracking_number for o in data.orders for s in o.shipments]
        await _delete_ids(conn, tenant, (t.tracking_events,), "tracking_number", numbers)

    @staticmethod
    async def _load_customers(
        conn: AsyncConnection, tenant: str, data: ShopData, progress: Progress | None
    ) -> None:
        start = await next_position(conn, t.customers, tenant)
        await _insert(
            conn,
            t.customers,
            [rows.customer_row(tenant, c, start + i) for i, c in enumerate(data.customers)],
        )
        await _insert(
            conn,
            t.payment_methods,
            [m for c in data.customers for m in rows.method_rows(tenant, c)],
        )
        if progress is not None:
            progress("customers", len(data.customers), len(data.customers))

    @staticmethod
    async def _load_products(
        conn: AsyncConnection, tenant: str, data: ShopData, progress: Progress | None
    ) -> None:
        start = await next_position(conn, t.products, tenant)
        product_rows, variant_rows = [], []
        for i, p in enumerate(data.products):
            row, vs = rows.product_rows(tenant, p, start + i)
            product_rows.append(row)
            variant_rows += vs
        await _insert(conn, t.products, product_rows)
        await _insert(conn, t.variants, variant_rows)
        if progress is not None:
            progress("products", len(data.products), len(data.products))

    @staticmethod
    async def _load_orders(
        conn: AsyncConnection, tenant: str, data: ShopData, progress: Progress | None
    ) -> None:
        start = await next_position(conn, t.orders, tenant)
        events: dict[str, tuple[TrackingEvent, ...]] = {}
        total = len(data.orders)
        for first in range(0, total, BATCH):
            batch = data.orders[first : first + BATCH]
            order_rows = [rows.order_row(tenant, o, start + first + i) for i, o in enumerate(batch)]
            children: dict[sa.Table, list[dict[str, Any]]] = {}
            for o in batch:
                for table, new in rows.order_children(tenant, o).items():
                    children.setdefault(table, []).extend(new)
                for s in o.shipments:
                    events[s.tracking_number] = merge_events(
                        events.get(s.tracking_number, ()), list(s.events)
                    )
            await _insert(conn, t.orders, order_rows)
            for table, values in children.items():
                await _insert(conn, table, values)
            if progress is not None:
                progress("orders", min(first + BATCH, total), total)
        event_rows = [r for n, evs in events.items() for r in rows.event_rows(tenant, n, evs)]
        await _insert(conn, t.tracking_events, event_rows)

    async def dump(self, tenant: str) -> ShopData:
        async with self._engine.connect() as conn:
            return ShopData(
                customers=tuple(await rows.load_customers(conn, tenant)),
                products=tuple(await rows.load_products(conn, tenant)),
                orders=tuple(await rows.load_orders(conn, tenant)),
                tickets=tuple(await rows.load_tickets(conn, tenant)),
            )
