"""Shop data as every layer sees it: customers, products, orders, shipments, tickets.

Money is a float of the shop's currency with two decimals (what the shop shows); the rules
that change money compute in integer cents (`kefu.commerce.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kefu.domain.types import JsonValue


class OrderStatus(StrEnum):
    PENDING = "pending"  # paid, not shipped yet
    PENDING_ITEM_MODIFIED = "pending (item modified)"  # items changed once; still not shipped
    PROCESSED = "processed"  # shipped
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return requested"
    EXCHANGE_REQUESTED = "exchange requested"


STATUS_LABELS: dict[str, dict[str, str]] = {
    OrderStatus.PENDING: {"zh": "待发货", "en": "awaiting shipment"},
    OrderStatus.PENDING_ITEM_MODIFIED: {
        "zh": "待发货（已修改商品）",
        "en": "awaiting shipment (items changed)",
    },
    OrderStatus.PROCESSED: {"zh": "已发货，运输中", "en": "shipped, in transit"},
    OrderStatus.DELIVERED: {"zh": "已签收", "en": "delivered"},
    OrderStatus.CANCELLED: {"zh": "已取消", "en": "cancelled"},
    OrderStatus.RETURN_REQUESTED: {"zh": "退货处理中", "en": "return requested"},
    OrderStatus.EXCHANGE_REQUESTED: {"zh": "换货处理中", "en": "exchange requested"},
}


def status_label(status: str, lang: str) -> str:
    labels = STATUS_LABELS.get(status)
    return labels.get(lang, labels["zh"]) if labels else status


class PaymentKind(StrEnum):
    CREDIT_CARD = "credit_card"
    PAYPAL = "paypal"
    GIFT_CARD = "gift_card"  # has a balance; refunds to it are immediate
    ALIPAY = "alipay"
    WECHAT_PAY = "wechat_pay"


PAYMENT_KIND_LABELS: dict[str, dict[str, str]] = {
    PaymentKind.CREDIT_CARD: {"zh": "银行卡", "en": "card"},
    PaymentKind.PAYPAL: {"zh": "PayPal", "en": "PayPal"},
    PaymentKind.GIFT_CARD: {"zh": "礼品卡", "en": "gift card"},
    PaymentKind.ALIPAY: {"zh": "支付宝", "en": "Alipay"},
    PaymentKind.WECHAT_PAY: {"zh": "微信支付", "en": "WeChat Pay"},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    address1: str
    address2: str = ""
    city: str
    state: str  # 省 / US state
    country: str
    zip: str
    district: str = ""  # 区 / 县; empty outside China


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentMethod:
    payment_method_id: str
    kind: str  # a PaymentKind value
    brand: str | None = None  # credit cards: visa, mastercard, 招商银行 ...
    last_four: str | None = None
    balance: float | None = None  # gift cards only

    @property
    def is_gift_card(self) -> bool:
        return self.kind == PaymentKind.GIFT_CARD

    def label(self, lang: str) -> str:
        kind = PAYMENT_KIND_LABELS.get(self.kind, {}).get(lang, self.kind)
        if self.kind == PaymentKind.CREDIT_CARD and self.last_four:
            brand = f"{self.brand} " if self.brand else ""
            return f"{brand}{kind} ****{self.last_four}"
        if self.is_gift_card and self.balance is not None:
            word = "余额" if lang == "zh" else "balance"
            return f"{kind} ({word} {self.balance:.2f})"
        return kind


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    user_id: str
    first_name: str  # 名
    last_name: str  # 姓
    email: str = ""
    phone: str = ""
    address: Address | None = None  # the default shipping address
    payment_methods: tuple[PaymentMethod, ...] = ()
    created_at: float | None = None

    def display_name(self, lang: str) -> str:
        # A Chinese name is family name first in either language (张伟, not "伟 张").
        if not self.first_name.isascii():
            return f"{self.last_name}{self.first_name}"
        return f"{self.first_name} {self.last_name}".strip()

    def payment_method(self, payment_method_id: str) -> PaymentMethod | None:
        return next(
            (p for p in self.payment_methods if p.payment_method_id == payment_method_id), None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    item_id: str
    product_id: str
    options: dict[str, str] = field(default_factory=dict)
    price: float
    available: bool = True
    stock: int | None = None  # None: not counted, `available` alone decides

    @property
    def in_stock(self) -> bool:
        return self.available and (self.stock is None or self.stock > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    product_id: str
    name: str
    variants: tuple[Variant, ...] = ()

    def variant(self, item_id: str) -> Variant | None:
        return next((v for v in self.variants if v.item_id == item_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderItem:
    item_id: str
    product_id: str
    name: str
    options: dict[str, str] = field(default_factory=dict)
    price: float
    quantity: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingEvent:
    ts: float
    description: str
    location: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    courier: str  # SF, JD, ZTO, YTO, STO, YUNDA, EMS; "" when unknown
    tracking_number: str
    events: tuple[TrackingEvent, ...] = ()
    item_ids: tuple[str, ...] = ()  # the order items in this parcel


@dataclass(frozen=True, slots=True, kw_only=True)
class Tracking:
    """A parcel's progress as a logistics service reports it (events oldest first)."""

    courier: str
    tracking_number: str
    events: tuple[TrackingEvent, ...] = ()
    delivered: bool = False


class TransactionType(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """One entry of an order's payment history."""

    transaction_type: str  # a TransactionType value
    amount: float
    payment_method_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnRequest:
    item_ids: tuple[str, ...]  # sorted; an id appears once per returned unit
    payment_method_id: str  # where the refund goes


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeRequest:
    item_ids: tuple[str, ...]  # sorted
    new_item_ids: tuple[str, ...]  # sorted
    payment_method_id: str  # pays or receives the price difference
    price_difference: float  # new minus old; negative: the customer gets money back


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    order_id: str
    user_id: str
    status: str
    items: tuple[OrderItem, ...]
    created_at: float | None = None
    currency: str = "CNY"
    shipments: tuple[Shipment, ...] = ()
    address: Address | None = None
    payments: tuple[Payment, ...] = ()
    cancel_reason: str | None = None
    return_request: ReturnRequest | None = None
    exchange_request: ExchangeRequest | None = None

    @property
    def total(self) -> float:
        return round(sum(i.price * i.quantity for i in self.items), 2)

    def card(self, lang: str) -> dict[str, JsonValue]:
        """The order as an `order` card (no address or phone: those need verification)."""
        return {
            "order_id": self.order_id,
            "status": self.status,
            "status_label": status_label(self.status, lang),
            "total": self.total,
            "currency": self.currency,
            "created_at": self.created_at,
            "items": [
                {
                    "item_id": i.item_id,
                    "name": i.name,
                    "options": dict(i.options),
                    "price": i.price,
                    "quantity": i.quantity,
                }
                for i in self.items
            ],
        }


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    ticket_id: str
    category: str  # complaint, human_agent, invoice, refund, general ...
    subject: str
    body: str = ""
    user_id: str | None = None
    verified: bool = False  # whether user_id was verified when the ticket was opened
    order_id: str | None = None
    status: str = TicketStatus.OPEN
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopData:
    """A whole shop of one tenant, in order: what import reads and export writes."""

    customers: tuple[Customer, ...] = ()
    products: tuple[Product, ...] = ()
    orders: tuple[Order, ...] = ()
    tickets: tuple[Ticket, ...] = ()
