"""Shop data as the dialogue layer sees it: orders, their items and shipments."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kefu.domain.types import JsonValue


class OrderStatus(StrEnum):
    PENDING = "pending"  # paid, not shipped yet
    PROCESSED = "processed"  # shipped
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return requested"
    EXCHANGE_REQUESTED = "exchange requested"


STATUS_LABELS: dict[str, dict[str, str]] = {
    OrderStatus.PENDING: {"zh": "待发货", "en": "awaiting shipment"},
    OrderStatus.PROCESSED: {"zh": "已发货，运输中", "en": "shipped, in transit"},
    OrderStatus.DELIVERED: {"zh": "已签收", "en": "delivered"},
    OrderStatus.CANCELLED: {"zh": "已取消", "en": "cancelled"},
    OrderStatus.RETURN_REQUESTED: {"zh": "退货处理中", "en": "return requested"},
    OrderStatus.EXCHANGE_REQUESTED: {"zh": "换货处理中", "en": "exchange requested"},
}


def status_label(status: str, lang: str) -> str:
    labels = STATUS_LABELS.get(status)
    return labels.get(lang, labels["zh"]) if labels else status


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
    courier: str  # SF, JD, ZTO, YTO, STO, YUNDA, EMS
    tracking_number: str
    events: tuple[TrackingEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    order_id: str
    user_id: str
    status: str
    items: tuple[OrderItem, ...]
    created_at: float
    currency: str = "CNY"
    shipments: tuple[Shipment, ...] = ()

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
