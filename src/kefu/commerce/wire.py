"""Wire models: the http connector's payloads and kefu's own shop file format (JSON).

Both use the same models, documented in docs/shop.md and docs/connector-api.yaml.
Timestamps are Unix seconds (floats); ISO 8601 strings are accepted on input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
    Ticket,
    Tracking,
    TrackingEvent,
    Variant,
)


def _epoch(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        dt = datetime.fromisoformat(value)
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    return value


Timestamp = Annotated[float, BeforeValidator(_epoch)]
Money = Annotated[float, Field(ge=0, le=1e12)]
Id = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def read(cls, obj: object) -> Self:
        """The wire form of a domain value whose fields the model names alike."""
        return cls.model_validate(obj, from_attributes=True)


class AddressModel(_Model):
    address1: Text
    address2: Text = ""
    city: Text
    state: Text
    country: Text
    zip: Annotated[str, Field(max_length=32)]
    district: Text = ""

    def to_domain(self) -> Address:
        return Address(**self.model_dump())


def _addr(a: AddressModel | None) -> Address | None:
    return a.to_domain() if a is not None else None


def _addr_model(a: Address | None) -> AddressModel | None:
    return AddressModel.read(a) if a is not None else None


class PaymentMethodModel(_Model):
    payment_method_id: Id
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = None

    def to_domain(self) -> PaymentMethod:
        return PaymentMethod(**self.model_dump())


class CustomerModel(_Model):
    user_id: Id
    first_name: Text
    last_name: Text
    email: Text = ""
    phone: Annotated[str, Field(max_length=32)] = ""
    address: AddressModel | None = None
    payment_methods: list[PaymentMethodModel] = Field(default_factory=list)
    created_at: Timestamp | None = None

    def to_domain(self) -> Customer:
        return Customer(
            user_id=self.user_id,
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            address=_addr(self.address),
            payment_methods=tuple(p.to_domain() for p in self.payment_methods),
            created_at=self.created_at,
        )

    @classmethod
    def of(cls, c: Customer) -> CustomerModel:
        return cls(
            user_id=c.user_id,
            first_name=c.first_name,
            last_name=c.last_name,
            email=c.email,
            phone=c.phone,
            address=_addr_model(c.address),
            payment_methods=[PaymentMethodModel.read(p) for p in c.payment_methods],
            created_at=c.created_at,
        )


class VariantModel(_Model):
    item_id: Id
    product_id: str = ""  # implied by the enclosing product in a shop file
    options: dict[str, str] = Field(default_factory=dict)
    price: Money
    available: bool = True
    stock: Annotated[int, Field(ge=0)] | None = None

    def to_domain(self, product_id: str = "") -> Variant:
        return Variant(
            item_id=self.item_id,
            product_id=product_id or self.product_id,
            options=dict(self.options),
            price=self.price,
            available=self.available,
            stock=self.stock,
        )

    @classmethod
    def of(cls, v: Variant) -> VariantModel:
        return cls(
            item_id=v.item_id,
            product_id=v.product_id,
            options=dict(v.options),
            price=v.price,
            available=v.available,
            stock=v.stock,
        )


class ProductModel(_Model):
    product_id: Id
    name: Text
    variants: list[VariantModel] = Field(default_factory=list)

    def to_domain(self) -> Product:
        variants = tuple(v.to_domain(self.product_id) for v in self.variants)
        return Product(product_id=self.product_id, name=self.name, variants=variants)

    @classmethod
    def of(cls, p: Product) -> ProductModel:
        return cls(
            product_id=p.product_id,
            name=p.name,
            variants=[VariantModel.of(v) for v in p.variants],
        )


class OrderItemModel(_Model):
    item_id: Id
    product_id: Id
    name: Text
    options: dict[str, str] = Field(default_factory=dict)
    price: Money
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1


class TrackingEventModel(_Model):
    ts: Timestamp
    description: Text
    location: Text = ""


class ShipmentModel(_Model):
    courier: Annotated[str, Field(max_length=32)] = ""
    tracking_number: Id
    item_ids: list[str] = Field(default_factory=list)
    events: list[TrackingEventModel] = Field(default_factory=list)


class PaymentModel(_Model):
    transaction_type: Literal["payment", "refund"]
    amount: Money
    payment_method_id: Id


class ReturnModel(_Model):
    item_ids: list[str]
    payment_method_id: Id


class ExchangeModel(_Model):
    item_ids: list[str]
    new_item_ids: list[str]
    payment_method_id: Id
    price_difference: float


class OrderModel(_Model):
    order_id: Id
    user_id: Id
    status: Annotated[str, Field(min_length=1, max_length=64)]
    items: list[OrderItemModel]
    created_at: Timestamp | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "CNY"
    shipments: list[ShipmentModel] = Field(default_factory=list)
    address: AddressModel | None = None
    payments: list[PaymentModel] = Field(default_factory=list)
    cancel_reason: str | None = None
    return_request: ReturnModel | None = None
    exchange_request: ExchangeModel | None = None

    def to_domain(self) -> Order:
        ret = self.return_request
        exc = self.exchange_request
        return Order(
            order_id=self.order_id,
            user_id=self.user_id,
            status=self.status,
            items=tuple(OrderItem(**i.model_dump()) for i in self.items),
            created_at=self.created_at,
            currency=self.currency,
            shipments=tuple(_shipment(s) for s in self.shipments),
            address=_addr(self.address),
            payments=tuple(Payment(**p.model_dump()) for p in self.payments),
            cancel_reason=self.cancel_reason,
            return_request=ReturnRequest(
                item_ids=tuple(ret.item_ids), payment_method_id=ret.payment_method_id
            )
            if ret
            else None,
            exchange_request=ExchangeRequest(
                item_ids=tuple(exc.item_ids),
                new_item_ids=tuple(exc.new_item_ids),
                payment_method_id=exc.payment_method_id,
                price_difference=exc.price_difference,
            )
            if exc
            else None,
        )

    @classmethod
    def of(cls, o: Order) -> OrderModel:
        return cls.model_validate(_order_dict(o))


def _shipment(s: ShipmentModel) -> Shipment:
    return Shipment(
        courier=s.courier,
        tracking_number=s.tracking_number,
        item_ids=tuple(s.item_ids),
        events=tuple(TrackingEvent(**e.model_dump()) for e in s.events),
    )


def _order_dict(o: Order) -> dict[str, Any]:
    ret, exc = o.return_request, o.exchange_request
    return {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "status": o.status,
        "items": [
            {
                "item_id": i.item_id,
                "product_id": i.product_id,
                "name": i.name,
                "options": dict(i.options),
                "price": i.price,
                "quantity": i.quantity,
            }
            for i in o.items
        ],
        "created_at": o.created_at,
        "currency": o.currency,
        "shipments": [
            {
                "courier": s.courier,
                "tracking_number": s.tracking_number,
                "item_ids": list(s.item_ids),
                "events": [
                    {"ts": e.ts, "description": e.description, "location": e.location}
                    for e in s.events
                ],
            }
            for s in o.shipments
        ],
        "address": _addr_model(o.address),
        "payments": [
            {
                "transaction_type": p.transaction_type,
                "amount": p.amount,
                "payment_method_id": p.payment_method_id,
            }
            for p in o.payments
        ],
        "cancel_reason": o.cancel_reason,
        "return_request": {
            "item_ids": list(ret.item_ids),
            "payment_method_id": ret.payment_method_id,
        }
        if ret
        else None,
        "exchange_request": {
            "item_ids": list(exc.item_ids),
            "new_item_ids": list(exc.new_item_ids),
            "payment_method_id": exc.payment_method_id,
            "price_difference": exc.price_difference,
        }
        if exc
        else None,
    }


class TicketModel(_Model):
    ticket_id: Id
    category: Annotated[str, Field(min_length=1, max_length=64)]
    subject: Text
    body: Annotated[str, Field(max_length=20_000)] = ""
    user_id: str | None = None
    verified: bool = False
    order_id: str | None = None
    status: Annotated[str, Field(max_length=32)] = "open"
    created_at: Timestamp

    def to_domain(self) -> Ticket:
        return Ticket(**self.model_dump())


class TrackingModel(_Model):
    courier: str = ""
    tracking_number: Id
    events: list[TrackingEventModel] = Field(default_factory=list)
    delivered: bool = False

    def to_domain(self) -> Tracking:
        return Tracking(
            courier=self.courier,
            tracking_number=self.tracking_number,
            events=tuple(TrackingEvent(**e.model_dump()) for e in self.events),
            delivered=self.delivered,
        )

    @classmethod
    def of(cls, t: Tracking) -> TrackingModel:
        return cls(
            courier=t.courier,
            tracking_number=t.tracking_number,
            events=[TrackingEventModel(**_event(e)) for e in t.events],
            delivered=t.delivered,
        )


def _event(e: TrackingEvent) -> dict[str, Any]:
    return {"ts": e.ts, "description": e.description, "location": e.location}


SHOP_FORMAT: Literal["kefu.shop"] = "kefu.shop"


class ShopFileModel(_Model):
    """kefu's own shop file (`kefu shop import FILE`, `kefu shop export`)."""

    format: Literal["kefu.shop"] = SHOP_FORMAT
    version: Literal[1] = 1
    customers: list[CustomerModel] = Field(default_factory=list)
    products: list[ProductModel] = Field(default_factory=list)
    orders: list[OrderModel] = Field(default_factory=list)
    tickets: list[TicketModel] = Field(default_factory=list)

    def to_domain(self) -> ShopData:
        return ShopData(
            customers=tuple(c.to_domain() for c in self.customers),
            products=tuple(p.to_domain() for p in self.products),
            orders=tuple(o.to_domain() for o in self.orders),
            tickets=tuple(t.to_domain() for t in self.tickets),
        )

    @classmethod
    def of(cls, data: ShopData) -> ShopFileModel:
        return cls(
            customers=[CustomerModel.of(c) for c in data.customers],
            products=[ProductModel.of(p) for p in data.products],
            orders=[OrderModel.of(o) for o in data.orders],
            tickets=[TicketModel.read(t) for t in data.tickets],
        )


# Write requests and errors on the wire (bodies of POST / PUT; the order id is in the path).


class CancelBody(_Model):
    reason: Text


class ModifyItemsBody(_Model):
    item_ids: list[Id]
    new_item_ids: list[Id]
    payment_method_id: Id


class PaymentBody(_Model):
    payment_method_id: Id


class ReturnBody(_Model):
    item_ids: list[Id]
    payment_method_id: Id


class NewTicketBody(_Model):
    category: Annotated[str, Field(min_length=1, max_length=64)]
    subject: Text
    body: Annotated[str, Field(max_length=20_000)] = ""
    user_id: str | None = None
    verified: bool = False
    order_id: str | None = None


class LookupBody(_Model):
    """A customer proving who they are: email, or name (or first + last name) + zip, or phone."""

    email: Annotated[str, Field(max_length=320)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    first_name: Annotated[str, Field(max_length=200)] | None = None
    last_name: Annotated[str, Field(max_length=200)] | None = None
    zip: Annotated[str, Field(max_length=32)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None


class ErrorBody(_Model):
    code: str
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorModel(_Model):
    error: ErrorBody


class OrderListModel(_Model):
    orders: list[OrderModel]


class ProductListModel(_Model):
    products: list[ProductModel]


class TicketListModel(_Model):
    tickets: list[TicketModel]
