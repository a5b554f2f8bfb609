"""A volatile shop (every commerce role) for tests, demos and `memory://` deployments."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from kefu.commerce import rules
from kefu.commerce.base import (
    ERASED,
    CancelOrder,
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
from kefu.commerce.demo import demo_shop
from kefu.commerce.idempotency import check_key, conflict, fingerprint
from kefu.commerce.identity import only_match
from kefu.domain.commerce import (
    Customer,
    Order,
    OrderStatus,
    Product,
    ShopData,
    Ticket,
    Tracking,
    TrackingEvent,
    Variant,
)

T = TypeVar("T")
DELIVERED_STATES = frozenset(
    {OrderStatus.DELIVERED, OrderStatus.RETURN_REQUESTED, OrderStatus.EXCHANGE_REQUESTED}
)


def new_ticket_id() -> str:
    return f"TK{uuid.uuid4().hex[:12].upper()}"


def anonymised(ticket: Ticket) -> Ticket:
    """The ticket without its content or its links to the customer and the order."""
    return replace(ticket, subject=ERASED, body=ERASED, user_id=None, order_id=None)


def merge_events(
    old: tuple[TrackingEvent, ...], new: list[TrackingEvent]
) -> tuple[TrackingEvent, ...]:
    """Old and new events, oldest first, without repeating an (ts, description) pair."""
    seen = {(e.ts, e.description) for e in old}
    added = [e for e in new if (e.ts, e.description) not in seen]
    return tuple(sorted((*old, *added), key=lambda e: e.ts))


@dataclass(slots=True)
class _State:
    customers: dict[str, Customer] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    done: dict[str, tuple[str, object]] = field(default_factory=dict)  # key -> (digest, result)

    def put(self, data: ShopData) -> None:
        self.customers.update((c.user_id, c) for c in data.customers)
        self.products.update((p.product_id, p) for p in data.products)
        self.variants.update((v.item_id, v) for p in data.products for v in p.variants)
        self.orders.update((o.order_id, o) for o in data.orders)
        self.tickets.update((t.ticket_id, t) for t in data.tickets)


class InMemoryShop:
    """Every commerce role over dicts; writes follow `kefu.commerce.rules`."""

    def __init__(
        self,
        data: ShopData | None = None,
        *,
        tenant: str = "default",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tenants: dict[str, _State] = {}
        self._lock = asyncio.Lock()
        self._clock = clock
        if data is not None:
            self._state(tenant).put(data)

    def _state(self, tenant: str) -> _State:
        return self._tenants.setdefault(tenant, _State())

    # -- admin ------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load(
        self, tenant: str, data: ShopData, *, replace: bool = True, progress: Progress | None = None
    ) -> None:
        async with self._lock:
            if replace:
                self._tenants[tenant] = _State()
            self._state(tenant).put(data)
        if progress is not None:
            progress("orders", len(data.orders), len(data.orders))

    async def dump(self, tenant: str) -> ShopData:
        st = self._state(tenant)
        return ShopData(
            customers=tuple(st.customers.values()),
            products=tuple(st.products.values()),
            orders=tuple(st.orders.values()),
            tickets=tuple(st.tickets.values()),
        )

    async def has_orders(self, tenant: str) -> bool:
        return bool(self._state(tenant).orders)

    def add(self, order: Order, *, tenant: str = "default") -> None:
        self._state(tenant).orders[order.order_id] = order

    # -- reads ------------------------------------------------------------------------

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        return self._state(tenant).orders.get(order_id)

    async def list_orders(self, tenant: str, user_id: str) -> list[Order]:
        return [o for o in self._state(tenant).orders.values() if o.user_id == user_id]

    async def get_customer(self, tenant: str, user_id: str) -> Customer | None:
        return self._state(tenant).customers.get(user_id)

    async def find_customer(self, tenant: str, query: CustomerQuery) -> Customer | None:
        return only_match(list(self._state(tenant).customers.values()), query)

    async def get_product(self, tenant: str, product_id: str) -> Product | None:
        return self._state(tenant).products.get(product_id)

    async def get_variant(self, tenant: str, item_id: str) -> Variant | None:
        return self._state(tenant).variants.get(item_id)

    async def list_products(self, tenant: str) -> list[Product]:
        return list(self._state(tenant).products.values())

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        for order in self._state(tenant).orders.values():
            for s in order.shipments:
                if s.tracking_number == tracking_number:
                    return Tracking(
                        courier=s.courier,
                        tracking_number=s.tracking_number,
                        events=tuple(sorted(s.events, key=lambda e: e.ts)),
                        delivered=order.status in DELIVERED_STATES,
                    )
        return None

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket | None:
        return self._state(tenant).tickets.get(ticket_id)

    async def list_tickets(self, tenant: str, user_id: str) -> list[Ticket]:
        return [t for t in self._state(tenant).tickets.values() if t.user_id == user_id]

    # -- writes -----------------------------------------------------------------------

    async def _once(
        self, tenant: str, key: str, op: str, request: object, write: Callable[[_State], T]
    ) -> T:
        check_key(key)
        digest = fingerprint(op, request)
        async with self._lock:
            st = self._state(tenant)
            if key in st.done:
                first_digest, result = st.done[key]
                if first_digest != digest:
                    raise conflict(key)
                return result  # type: ignore[return-value]
            result_new = write(st)
            st.done[key] = (digest, result_new)
            return result_new

    def _order_write(
        self, order_id: str, change: Callable[[_State, Order, Customer], rules.Effect]
    ) -> Callable[[_State], Order]:
        def write(st: _State) -> Order:
            order = st.orders.get(order_id)
            if order is None:
                raise ShopRefusal(RefusalCode.NOT_FOUND, f"no order {order_id}")
            owner = st.customers.get(order.user_id)
            if owner is None:
                raise ShopRefusal(RefusalCode.NOT_FOUND, f"no customer {order.user_id}")
            effect = change(st, order, owner)
            st.orders[order_id] = effect.order
            if effect.changed_methods:
                changed = {m.payment_method_id: m for m in effect.changed_methods}
                methods = tuple(changed.get(m.payment_method_id, m) for m in owner.payment_methods)
                st.customers[owner.user_id] = replace(owner, payment_methods=methods)
            return effect.order

        return write

    async def cancel_order(
        self, tenant: str, request: CancelOrder, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(request.order_id, lambda _s, o, c: rules.cancel(o, c, request))
        return await self._once(tenant, idempotency_key, "cancel_order", request, write)

    async def modify_items(
        self, tenant: str, request: ModifyItems, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(
            request.order_id, lambda s, o, c: rules.modify_items(o, c, request, s.variants)
        )
        return await self._once(tenant, idempotency_key, "modify_items", request, write)

    async def modify_payment(
        self, tenant: str, request: ModifyPayment, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(
            request.order_id, lambda _s, o, c: rules.modify_payment(o, c, request)
        )
        return await self._once(tenant, idempotency_key, "modify_payment", request, write)

    async def modify_address(
        self, tenant: str, request: ModifyOrderAddress, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(
            request.order_id, lambda _s, o, _c: rules.modify_order_address(o, request)
        )
        return await self._once(tenant, idempotency_key, "modify_address", request, write)

    async def return_items(
        self, tenant: str, request: ReturnItems, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(
            request.order_id, lambda _s, o, c: rules.return_items(o, c, request)
        )
        return await self._once(tenant, idempotency_key, "return_items", request, write)

    async def exchange_items(
        self, tenant: str, request: ExchangeItems, *, idempotency_key: str
    ) -> Order:
        write = self._order_write(
            request.order_id, lambda s, o, c: rules.exchange_items(o, c, request, s.variants)
        )
        return await self._once(tenant, idempotency_key, "exchange_items", request, write)

    async def modify_user_address(
        self, tenant: str, request: ModifyUserAddress, *, idempotency_key: str
    ) -> Customer:
        def write(st: _State) -> Customer:
            customer = st.customers.get(request.user_id)
            if customer is None:
                raise ShopRefusal(RefusalCode.NOT_FOUND, f"no customer {request.user_id}")
            st.customers[customer.user_id] = new = rules.modify_user_address(customer, request)
            return new

        return await self._once(tenant, idempotency_key, "modify_user_address", request, write)

    async def create_ticket(
        self, tenant: str, request: NewTicket, *, idempotency_key: str
    ) -> Ticket:
        def write(st: _State) -> Ticket:
            ticket = rules.new_ticket(request, ticket_id=new_ticket_id(), now=self._clock())
            st.tickets[ticket.ticket_id] = ticket
            return ticket

        return await self._once(tenant, idempotency_key, "create_ticket", request, write)

    async def anonymise_tickets(self, tenant: str, user_id: str) -> int:
        async with self._lock:
            st = self._state(tenant)
            found = {
                k.ticket_id: anonymised(k) for k in st.tickets.values() if k.user_id == user_id
            }
            st.tickets.update(found)
            for key, (digest, result) in list(st.done.items()):  # a retried create's answer
                if isinstance(result, Ticket) and result.ticket_id in found:
                    st.done[key] = (digest, found[result.ticket_id])
        return len(found)

    async def record_tracking(
        self, tenant: str, *, tracking_number: str, events: list[TrackingEvent]
    ) -> Order | None:
        async with self._lock:
            st = self._state(tenant)
            for order in st.orders.values():
                ships = order.shipments
                for i, s in enumerate(ships):
                    if s.tracking_number == tracking_number:
                        merged = replace(s, events=merge_events(s.events, events))
                        new = replace(order, shipments=(*ships[:i], merged, *ships[i + 1 :]))
                        st.orders[order.order_id] = new
                        return new
        return None


class InMemoryOrderService(InMemoryShop):
    """The in-memory shop seeded with kefu's Chinese demo shop (or the orders given)."""

    def __init__(self, orders: list[Order] | None = None, *, tenant: str = "default") -> None:
        data = demo_shop() if orders is None else ShopData(orders=tuple(orders))
        super().__init__(data, tenant=tenant)


def demo_orders(now: float | None = None) -> list[Order]:
    """The four orders the built-in flows' tests use (KF202611200001 ... 0004)."""
    keep = ("KF202611200001", "KF202611180002", "KF202611100003", "KF202611050004")
    return [o for o in demo_shop(now).orders if o.order_id in keep]
