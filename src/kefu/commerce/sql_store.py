"""The built-in shop store on SQLAlchemy async (SQLite by default, PostgreSQL).

Every write runs in one transaction: it claims the idempotency key, locks and loads the
order (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers), applies the rule
from `kefu.commerce.rules`, saves the order guarded by its version and gift-card balances
guarded by their old value, and stores the result under the key. A lost race (version or
balance moved, SQLite busy, the same key committed by a concurrent call) rolls back and
runs again, so a retry with the same key returns the first result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import pydantic_core
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu.commerce import rules
from kefu.commerce import sql_rows as rows
from kefu.commerce import sql_schema as t
from kefu.commerce.base import (
    ERASED,
    CancelOrder,
    ConnectorError,
    CustomerQuery,
    ExchangeItems,
    ModifyItems,
    ModifyOrderAddress,
    ModifyPayment,
    ModifyUserAddress,
    NewTicket,
    Progress,
    RefusalCode,
    ReturnItems,
    ShopRefusal,
)
from kefu.commerce.idempotency import check_key, conflict, fingerprint
from kefu.commerce.identity import (
    normalize_email,
    normalize_phone,
    normalize_zip,
    only_match,
    query_kind,
)
from kefu.commerce.memory import DELIVERED_STATES, anonymised, new_ticket_id
from kefu.commerce.sql_admin import SqlShopAdmin, next_position
from kefu.commerce.wire import CustomerModel, OrderModel, TicketModel
from kefu.domain.commerce import (
    Customer,
    Order,
    PaymentMethod,
    Product,
    ShopData,
    Ticket,
    Tracking,
    TrackingEvent,
    Variant,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
V = TypeVar("V")
ORDER_CACHE_TTL_S = 2.0
ORDER_CACHE_SIZE = 20_000
Change = Callable[[Order, Customer, Mapping[str, Variant]], rules.Effect]


class _Retry(Exception):
    """Another transaction changed what this one read; run it again."""


@contextlib.asynccontextmanager
async def _db_errors() -> AsyncIterator[None]:
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise ConnectorError(f"shop database: {exc.__class__.__name__}") from exc


class _ReadCache(Generic[V]):
    """Reads kept for ORDER_CACHE_TTL_S (None results too), bounded in size. Concurrent
    misses of one key share one database read (under load, an expired entry otherwise sent
    every waiting turn to the database at once)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[float, V | None]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[V | None]] = {}

    async def fetch(
        self, key: tuple[str, str], loader: Callable[[], Awaitable[V | None]]
    ) -> V | None:
        hit = self._data.get(key)
        if hit is not None and time.monotonic() - hit[0] < ORDER_CACHE_TTL_S:
            return hit[1]
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        fut: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            value = await loader()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters (if any) get it; no "never retrieved" noise
            raise
        finally:
            current = self._inflight.get(key) is fut
            if current:
                del self._inflight[key]
        if current:  # not dropped by a write meanwhile
            self.put(key, value)
        fut.set_result(value)
        return value

    def put(self, key: tuple[str, str], value: V | None) -> None:
        if len(self._data) >= ORDER_CACHE_SIZE:
            self._data.clear()
        self._data[key] = (time.monotonic(), value)

    def drop(self, key: tuple[str, str]) -> None:
        self._data.pop(key, None)
        self._inflight.pop(key, None)

    def clear(self) -> None:
        self._data.clear()
        self._inflight.clear()


class SqlShopStore(SqlShopAdmin):
    """Every commerce role over the kefu_shop_* tables. The engine belongs to the caller
    unless `dispose_engine` (then `close()` disposes it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.time,
        write_attempts: int = 8,
        dispose_engine: bool = False,
    ) -> None:
        super().__init__(engine, dispose_engine=dispose_engine)
        self._clock = clock
        self._attempts = write_attempts
        # Orders read by flows are read again within seconds (lookup, then the write's
        # summary); six queries each. Writes through this store drop their entry; another
        # process's write shows here after at most ORDER_CACHE_TTL_S (the writes themselves
        # re-check everything inside their transaction).
        self._orders: _ReadCache[Order] = _ReadCache()
        self._tracks: _ReadCache[Tracking] = _ReadCache()

    # -- reads ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with _db_errors(), self._engine.connect() as conn:
            yield conn

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        async def read() -> Order | None:
            async with self._read() as conn:
                found = await rows.load_orders(conn, tenant, t.orders.c.order_id == order_id)
            return found[0] if found else None

        return await self._orders.fetch((tenant, order_id), read)

    async def load(
        self, tenant: str, data: ShopData, *, replace: bool = True, progress: Progress | None = None
    ) -> None:
        try:
            await super().load(tenant, data, replace=replace, progress=progress)
        finally:
            self.forget_orders()

    def forget_orders(self, tenant: str | None = None, order_id: str | None = None) -> None:
        """Drop cached order reads (one order, or all of them)."""
        self._tracks.clear()  # few, and keyed by parcel: drop them all
        if tenant is None or order_id is None:
            self._orders.clear()
        else:
            self._orders.drop((tenant, order_id))

    async def list_orders(self, tenant: str, user_id: str) -> list[Order]:
        async with self._read() as conn:
            return await rows.load_orders(conn, tenant, t.orders.c.user_id == user_id)

    async def get_customer(self, tenant: str, user_id: str) -> Customer | None:
        async with self._read() as conn:
            found = await rows.load_customers(conn, tenant, t.customers.c.user_id == user_id)
        return found[0] if found else None

    async def find_customer(self, tenant: str, query: CustomerQuery) -> Customer | None:
        kind = query_kind(query)
        c = t.customers.c
        if kind == "email":
            where = c.email_norm == normalize_email(query.email or "")
        elif kind == "phone":
            where = c.phone_norm == normalize_phone(query.phone or "")
        elif kind == "name_zip":
            where = c.zip_norm == normalize_zip(query.zip or "")
        else:
            return None
        async with self._read() as conn:
            return only_match(await rows.load_customers(conn, tenant, where), query)

    async def get_product(self, tenant: str, product_id: str) -> Product | None:
        async with self._read() as conn:
            found = await rows.load_products(conn, tenant, t.products.c.product_id == product_id)
        return found[0] if found else None

    async def get_variant(self, tenant: str, item_id: str) -> Variant | None:
        async with self._read() as conn:
            found = await self._variants(conn, tenant, [item_id])
        return found.get(item_id)

    async def list_products(self, tenant: str) -> list[Product]:
        async with self._read() as conn:
            return await rows.load_products(conn, tenant)

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        return await self._tracks.fetch(
            (tenant, tracking_number), lambda: self._track(tenant, tracking_number)
        )

    async def _track(self, tenant: str, tracking_number: str) -> Tracking | None:
        f, o = t.fulfilments, t.orders
        q = (
            sa.select(f.c.courier, o.c.status)
            .join(o, sa.and_(o.c.tenant == f.c.tenant, o.c.order_id == f.c.order_id))
            .where(f.c.tenant == tenant, f.c.tracking_number == tracking_number)
            .limit(1)
        )
        async with self._read() as conn:
            hit = (await conn.execute(q)).first()
            if hit is None:
                return None
            events = await rows.load_events(conn, tenant, [tracking_number])
        return Tracking(
            courier=hit.courier,
            tracking_number=tracking_number,
            events=events.get(tracking_number, ()),
            delivered=hit.status in DELIVERED_STATES,
        )

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket | None:
        async with self._read() as conn:
            found = await rows.load_tickets(conn, tenant, t.tickets.c.ticket_id == ticket_id)
        return found[0] if found else None

    async def list_tickets(self, tenant: str, user_id: str) -> list[Ticket]:
        async with self._read() as conn:
            return await rows.load_tickets(conn, tenant, t.tickets.c.user_id == user_id)

    @staticmethod
    async def _variants(
        conn: AsyncConnection, tenant: str, item_ids: Sequence[str]
    ) -> dict[str, Variant]:
        found = await rows.load_children(conn, t.variants, tenant, "item_id", item_ids)
        return {r.item_id: rows.variant(r) for r in found}

    # -- the write machinery ------------------------------------------------------------

    async def _once(
        self,
        tenant: str,
        key: str,
        op: str,
        request: object,
        write: Callable[[AsyncConnection], Awaitable[tuple[T, BaseModel]]],
        decode: Callable[[str], T],
    ) -> T:
        check_key(key)
        digest = fingerprint(op, request)
        idem = t.idempotency
        for attempt in range(self._attempts):
            try:
                async with self._engine.begin() as conn:
                    prior = (
                        await conn.execute(
                            sa.select(idem.c.digest, idem.c.result).where(
                                idem.c.tenant == tenant, idem.c.key == key
                            )
                        )
                    ).first()
                    if prior is not None:
                        if prior.digest != digest:
                            raise conflict(key)
                        return decode(prior.result)
                    # Claim the key first: a concurrent call with the same key blocks on it
                    # and, once this commits, fails the insert and rereads our result.
                    await conn.execute(
                        sa.insert(idem).values(
                            tenant=tenant,
                            key=key,
                            digest=digest,
                            result="",
                            created_at=self._clock(),
                        )
                    )
                    result, wire = await write(conn)
                    await conn.execute(
                        sa.update(idem)
                        .where(idem.c.tenant == tenant, idem.c.key == key)
                        .values(result=wire.model_dump_json())
                    )
                    return result
            except (_Retry, IntegrityError):
                log.info("commerce.write_retry op=%s attempt=%d", op, attempt)
            except OperationalError as exc:  # SQLite busy / locked, a PostgreSQL deadlock
                log.info("commerce.write_busy op=%s attempt=%d error=%s", op, attempt, exc.orig)
                await asyncio.sleep(0.01 * (attempt + 1))
            except SQLAlchemyError as exc:
                raise ConnectorError(f"shop database: {exc.__class__.__name__}") from exc
        raise ConnectorError(f"{op}: the shop database stayed busy")

    async def _order_write(
        self, conn: AsyncConnection, tenant: str, order_id: str, change: Change,
        new_item_ids: Sequence[str] = (),
    ) -> tuple[Order, BaseModel]:  # fmt: skip
        o = t.orders
        locked = (
            await conn.execute(
                sa.select(o.c.version)
                .where(o.c.tenant == tenant, o.c.order_id == order_id)
                .with_for_update()
            )
        ).first()
        if locked is None:
            raise ShopRefusal(RefusalCode.NOT_FOUND, f"no order {order_id}")
        [order] = await rows.load_orders(conn, tenant, o.c.order_id == order_id)
        owners = await rows.load_customers(conn, tenant, t.customers.c.user_id == order.user_id)
        if not owners:
            raise ShopRefusal(RefusalCode.NOT_FOUND, f"no customer {order.user_id}")
        effect = change(order, owners[0], await self._variants(conn, tenant, new_item_ids))
        await self._save_order(conn, tenant, effect.order, version=locked.version)
        await self._save_balances(conn, tenant, owners[0], effect.changed_methods)
        return effect.order, OrderModel.of(effect.order)

    @staticmethod
    async def _save_order(
        conn: AsyncConnection, tenant: str, order: Order, *, version: int
    ) -> None:
        o = t.orders
        row = rows.order_row(tenant, order, 0)
        del row["position"], row["tenant"], row["order_id"]
        done = await conn.execute(
            sa.update(o)
            .where(o.c.tenant == tenant, o.c.order_id == order.order_id, o.c.version == version)
            .values(**row, version=version + 1)
        )
        if done.rowcount != 1:
            raise _Retry
        for table, new_rows in rows.order_children(tenant, order).items():
            await conn.execute(
                sa.delete(table).where(table.c.tenant == tenant, table.c.order_id == order.order_id)
            )
            if new_rows:
                await conn.execute(sa.insert(table), new_rows)

    @staticmethod
    async def _save_balances(
        conn: AsyncConnection, tenant: str, owner: Customer, changed: Sequence[PaymentMethod]
    ) -> None:
        pm = t.payment_methods
        for method in changed:
            before = owner.payment_method(method.payment_method_id)
            old = rules.cents(before.balance or 0.0) if before else 0
            done = await conn.execute(
                sa.update(pm)
                .where(
                    pm.c.tenant == tenant,
                    pm.c.user_id == owner.user_id,
                    pm.c.payment_method_id == method.payment_method_id,
                    pm.c.balance_cents == old,
                )
                .values(balance_cents=rules.cents(method.balance or 0.0))
            )
            if done.rowcount != 1:
                raise _Retry

    # -- writes -----------------------------------------------------------------------

    async def _order_op(
        self, tenant: str, key: str, op: str, request: Any, change: Change,
        new_item_ids: Sequence[str] = (),
    ) -> Order:  # fmt: skip
        async def write(conn: AsyncConnection) -> tuple[Order, BaseModel]:
            return await self._order_write(conn, tenant, request.order_id, change, new_item_ids)

        try:
            return await self._once(tenant, key, op, request, write, _decode_order)
        finally:
            self.forget_orders(tenant, request.order_id)

    async def cancel_order(
        self, tenant: str, request: CancelOrder, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "cancel_order", request,
            lambda o, c, _v: rules.cancel(o, c, request),
        )  # fmt: skip

    async def modify_items(
        self, tenant: str, request: ModifyItems, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "modify_items", request,
            lambda o, c, v: rules.modify_items(o, c, request, v), request.new_item_ids,
        )  # fmt: skip

    async def modify_payment(
        self, tenant: str, request: ModifyPayment, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "modify_payment", request,
            lambda o, c, _v: rules.modify_payment(o, c, request),
        )  # fmt: skip

    async def modify_address(
        self, tenant: str, request: ModifyOrderAddress, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "modify_address", request,
            lambda o, _c, _v: rules.modify_order_address(o, request),
        )  # fmt: skip

    async def return_items(
        self, tenant: str, request: ReturnItems, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "return_items", request,
            lambda o, c, _v: rules.return_items(o, c, request),
        )  # fmt: skip

    async def exchange_items(
        self, tenant: str, request: ExchangeItems, *, idempotency_key: str
    ) -> Order:
        return await self._order_op(
            tenant, idempotency_key, "exchange_items", request,
            lambda o, c, v: rules.exchange_items(o, c, request, v), request.new_item_ids,
        )  # fmt: skip

    async def modify_user_address(
        self, tenant: str, request: ModifyUserAddress, *, idempotency_key: str
    ) -> Customer:
        async def write(conn: AsyncConnection) -> tuple[Customer, BaseModel]:
            c = t.customers.c
            found = await rows.load_customers(conn, tenant, c.user_id == request.user_id)
            if not found:
                raise ShopRefusal(RefusalCode.NOT_FOUND, f"no customer {request.user_id}")
            new = rules.modify_user_address(found[0], request)
            row = rows.customer_row(tenant, new, 0)
            await conn.execute(
                sa.update(t.customers)
                .where(c.tenant == tenant, c.user_id == new.user_id)
                .values(address=row["address"], zip_norm=row["zip_norm"])
            )
            return new, CustomerModel.of(new)

        return await self._once(
            tenant, idempotency_key, "modify_user_address", request, write, _decode_customer
        )

    async def create_ticket(
        self, tenant: str, request: NewTicket, *, idempotency_key: str
    ) -> Ticket:
        async def write(conn: AsyncConnection) -> tuple[Ticket, BaseModel]:
            ticket = rules.new_ticket(request, ticket_id=new_ticket_id(), now=self._clock())
            position = await next_position(conn, t.tickets, tenant)
            await conn.execute(sa.insert(t.tickets), [rows.ticket_row(tenant, ticket, position)])
            return ticket, TicketModel.read(ticket)

        return await self._once(
            tenant, idempotency_key, "create_ticket", request, write, _decode_ticket
        )

    async def anonymise_tickets(self, tenant: str, user_id: str) -> int:
        """In one transaction; the stored answers of the tickets' creation are rewritten too
        (a retried create returns the anonymised ticket)."""
        k, idem = t.tickets.c, t.idempotency.c
        async with _db_errors(), self._engine.begin() as conn:
            found = await rows.load_tickets(conn, tenant, k.user_id == user_id)
            if not found:
                return 0
            await conn.execute(
                sa.update(t.tickets)
                .where(k.tenant == tenant, k.user_id == user_id)
                .values(subject=ERASED, body=ERASED, user_id=None, order_id=None)
            )
            for ticket in found:
                stored = '"ticket_id":' + pydantic_core.to_json(ticket.ticket_id).decode()
                await conn.execute(
                    sa.update(t.idempotency)
                    .where(idem.tenant == tenant, idem.result.contains(stored, autoescape=True))
                    .values(result=TicketModel.read(anonymised(ticket)).model_dump_json())
                )
        return len(found)

    async def record_tracking(
        self, tenant: str, *, tracking_number: str, events: list[TrackingEvent]
    ) -> Order | None:
        f = t.fulfilments.c
        async with _db_errors(), self._engine.begin() as conn:
            order_id = await conn.scalar(
                sa.select(f.order_id)
                .where(f.tenant == tenant, f.tracking_number == tracking_number)
                .limit(1)
            )
            if order_id is None:
                return None
            have = (await rows.load_events(conn, tenant, [tracking_number])).get(
                tracking_number, ()
            )
            seen = {(e.ts, e.description) for e in have}
            new = [e for e in events if (e.ts, e.description) not in seen]
            if new:
                await conn.execute(
                    sa.insert(t.tracking_events), rows.event_rows(tenant, tracking_number, new)
                )
            found = await rows.load_orders(conn, tenant, t.orders.c.order_id == order_id)
        self.forget_orders(tenant, order_id)
        return found[0]


def _decode_order(text: str) -> Order:
    return OrderModel.model_validate_json(text).to_domain()


def _decode_customer(text: str) -> Customer:
    return CustomerModel.model_validate_json(text).to_domain()


def _decode_ticket(text: str) -> Ticket:
    return TicketModel.model_validate_json(text).to_domain()
