"""Protocols of the commerce layer, the write requests they take and the errors they raise.

Every method takes the tenant (shop) first. Every write takes an idempotency key: a retried
call with the same key returns the first call's result and writes nothing; a write either
happens whole or not at all. A write the shop refuses raises `ShopRefusal` (its `code` is
what a flow branches on); a back end that fails or answers garbage raises `ConnectorError`.
See docs/shop.md for the effect of each write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from kefu.domain.commerce import (
    Address,
    Customer,
    Order,
    Product,
    ShopData,
    Ticket,
    Tracking,
    TrackingEvent,
    Variant,
)
from kefu.domain.types import JsonValue

ERASED = "[erased]"
"""What erased personal text is replaced by."""


class ConnectorError(Exception):
    """A back end failed or answered garbage; flows turn it into a clear message."""


class RefusalCode(StrEnum):
    NOT_FOUND = "not_found"  # no such order / customer / ticket
    WRONG_STATUS = "wrong_status"  # the order's status does not allow this write
    INVALID = "invalid"  # the request is wrong: unknown item, bad reason, same method ...
    OUT_OF_STOCK = "out_of_stock"  # a new variant is not available
    INSUFFICIENT_BALANCE = "insufficient_balance"  # a gift card cannot cover the amount
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # key reused for another request


class ShopRefusal(Exception):
    """The shop refused a write; nothing was written."""

    def __init__(
        self, code: RefusalCode, message: str, details: Mapping[str, JsonValue] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, JsonValue] = dict(details or {})


CANCEL_REASONS = ("no longer needed", "ordered by mistake")


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order_id: str
    reason: str  # one of CANCEL_REASONS


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyItems:
    """Change items of a pending order to other variants of the same products.

    `item_ids[i]` becomes `new_item_ids[i]`; an id appears once per unit to change.
    """

    order_id: str
    item_ids: tuple[str, ...]
    new_item_ids: tuple[str, ...]
    payment_method_id: str  # pays or receives the price difference


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyPayment:
    order_id: str
    payment_method_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyOrderAddress:
    order_id: str
    address: Address


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyUserAddress:
    user_id: str
    address: Address


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnItems:
    order_id: str
    item_ids: tuple[str, ...]
    payment_method_id: str  # the original payment method or a gift card of the customer


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeItems:
    order_id: str
    item_ids: tuple[str, ...]
    new_item_ids: tuple[str, ...]
    payment_method_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTicket:
    category: str
    subject: str
    body: str = ""
    user_id: str | None = None
    verified: bool = False
    order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerQuery:
    """How a customer proves who they are: e-mail, or name + zip, or phone."""

    email: str | None = None
    name: str | None = None  # full name, any order: "张伟", "Yusuf Rossi"
    first_name: str | None = None
    last_name: str | None = None
    zip: str | None = None
    phone: str | None = None


class OrderService(Protocol):
    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        """The order, or None when the shop has no such order."""
        ...

    async def list_orders(self, tenant: str, user_id: str) -> list[Order]:
        """A customer's orders, oldest first (the shop's order)."""
        ...

    async def cancel_order(
        self, tenant: str, request: CancelOrder, *, idempotency_key: str
    ) -> Order: ...

    async def modify_items(
        self, tenant: str, request: ModifyItems, *, idempotency_key: str
    ) -> Order: ...

    async def modify_payment(
        self, tenant: str, request: ModifyPayment, *, idempotency_key: str
    ) -> Order: ...

    async def modify_address(
        self, tenant: str, request: ModifyOrderAddress, *, idempotency_key: str
    ) -> Order: ...

    async def return_items(
        self, tenant: str, request: ReturnItems, *, idempotency_key: str
    ) -> Order: ...

    async def exchange_items(
        self, tenant: str, request: ExchangeItems, *, idempotency_key: str
    ) -> Order: ...


class CustomerDirectory(Protocol):
    async def get_customer(self, tenant: str, user_id: str) -> Customer | None: ...

    async def find_customer(self, tenant: str, query: CustomerQuery) -> Customer | None:
        """The one customer matching the e-mail, or name + zip, or phone; else None."""
        ...

    async def modify_user_address(
        self, tenant: str, request: ModifyUserAddress, *, idempotency_key: str
    ) -> Customer: ...


class ProductCatalog(Protocol):
    async def get_product(self, tenant: str, product_id: str) -> Product | None: ...

    async def get_variant(self, tenant: str, item_id: str) -> Variant | None: ...

    async def list_products(self, tenant: str) -> list[Product]: ...


class LogisticsService(Protocol):
    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        """The parcel's events, or None when the number is unknown. `phone`: SF wants it."""
        ...


class TicketService(Protocol):
    async def create_ticket(
        self, tenant: str, request: NewTicket, *, idempotency_key: str
    ) -> Ticket: ...

    async def get_ticket(self, tenant: str, ticket_id: str) -> Ticket | None: ...

    async def list_tickets(self, tenant: str, user_id: str) -> list[Ticket]: ...

    async def anonymise_tickets(self, tenant: str, user_id: str) -> int:
        """Erase the customer's tickets' content (a data-subject erasure): subject and body
        become `ERASED`, the link to the customer and the order is dropped; id, category,
        status, `verified` and `created_at` stay for the shop's statistics. Returns how many
        were anonymised (a repeat finds none)."""
        ...


class Shop(
    OrderService, CustomerDirectory, ProductCatalog, LogisticsService, TicketService, Protocol
):
    """One back end playing every role (the built-in store, the http connector, the fake)."""

    async def start(self) -> None:
        """Create tables / open clients; call once before use."""
        ...

    async def close(self) -> None: ...


class TrackingRecorder(Protocol):
    async def record_tracking(
        self, tenant: str, *, tracking_number: str, events: list[TrackingEvent]
    ) -> Order | None:
        """Add events to a parcel (events already stored are skipped); the order it
        belongs to, or None when no order ships with that number (nothing stored)."""
        ...


Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total) while a shop is loaded."""


class ShopAdmin(Protocol):
    """Bulk access for import, export and the demo shop (the built-in stores)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def load(
        self, tenant: str, data: ShopData, *, replace: bool = True, progress: Progress | None = None
    ) -> None:
        """Store a whole shop; `replace` deletes the tenant's shop data first."""
        ...

    async def dump(self, tenant: str) -> ShopData: ...

    async def has_orders(self, tenant: str) -> bool: ...
