"""The shop's write rules as pure functions: current state + request -> new state, or refusal.

Every store (SQL, in-memory) loads the order, its owner and the variants involved, calls
one of these, and saves what comes back in one transaction; so the rules exist once. They
follow the τ²-bench retail tools (see docs/shop.md), except that each changed item gets its
own new variant's price and options. Money is computed in integer cents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from kefu.commerce.base import (
    CANCEL_REASONS,
    CancelOrder,
    ExchangeItems,
    ModifyItems,
    ModifyOrderAddress,
    ModifyPayment,
    ModifyUserAddress,
    NewTicket,
    RefusalCode,
    ReturnItems,
    ShopRefusal,
)
from kefu.domain.commerce import (
    Customer,
    ExchangeRequest,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    ReturnRequest,
    Ticket,
    TicketStatus,
    TransactionType,
    Variant,
)


def cents(amount: float) -> int:
    return round(amount * 100)


def money(amount_cents: int) -> float:
    return amount_cents / 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """The order after a write and the owner's payment methods whose balance changed."""

    order: Order
    changed_methods: tuple[PaymentMethod, ...] = ()


def _refuse(code: RefusalCode, message: str, **details: str | float | None) -> ShopRefusal:
    return ShopRefusal(code, message, details)


def _need_status(order: Order, *, exact: str | None = None, contains: str | None = None) -> None:
    ok = order.status == exact if exact is not None else (contains or "") in order.status
    if not ok:
        wanted = exact or contains or ""
        raise _refuse(
            RefusalCode.WRONG_STATUS,
            f"order {order.order_id} is {order.status!r}, needs {wanted!r}",
            status=order.status,
        )


def _method(owner: Customer, payment_method_id: str) -> PaymentMethod:
    method = owner.payment_method(payment_method_id)
    if method is None:
        raise _refuse(
            RefusalCode.INVALID,
            f"payment method {payment_method_id} is not the customer's",
            payment_method_id=payment_method_id,
        )
    return method


def _check_units(order: Order, item_ids: tuple[str, ...]) -> None:
    if not item_ids:
        raise _refuse(RefusalCode.INVALID, "no items given")
    have: Counter[str] = Counter()
    for line in order.items:
        have[line.item_id] += line.quantity
    for item_id, wanted in Counter(item_ids).items():
        if wanted > have[item_id]:
            raise _refuse(
                RefusalCode.INVALID,
                f"order {order.order_id} has {have[item_id]} of item {item_id}, not {wanted}",
                item_id=item_id,
            )


def _check_balance(method: PaymentMethod, amount_cents: int) -> None:
    if method.is_gift_card and cents(method.balance or 0.0) < amount_cents:
        raise _refuse(
            RefusalCode.INSUFFICIENT_BALANCE,
            f"gift card {method.payment_method_id} cannot cover {money(amount_cents):.2f}",
            payment_method_id=method.payment_method_id,
            balance=method.balance or 0.0,
            required=money(amount_cents),
        )


def _add_balance(method: PaymentMethod, delta_cents: int) -> PaymentMethod:
    return replace(method, balance=money(cents(method.balance or 0.0) + delta_cents))


def _new_variants(
    order: Order, pairs: list[tuple[str, str]], variants: Mapping[str, Variant]
) -> list[tuple[int, Variant]]:
    """Each (index of the old line, new variant), in request order.

    A repeated item id takes the next unit: the next unit of a line with a quantity, then
    the next line holding that item.
    """
    consumed: Counter[int] = Counter()
    out: list[tuple[int, Variant]] = []
    for old_id, new_id in pairs:
        if old_id == new_id:
            raise _refuse(RefusalCode.INVALID, f"item {old_id} would not change", item_id=old_id)
        index = next(
            i
            for i, line in enumerate(order.items)
            if line.item_id == old_id and consumed[i] < line.quantity
        )
        consumed[index] += 1
        line = order.items[index]
        variant = variants.get(new_id)
        if variant is None or variant.product_id != line.product_id:
            raise _refuse(
                RefusalCode.INVALID,
                f"item {new_id} is not a variant of product {line.product_id}",
                item_id=new_id,
            )
        if not variant.in_stock:
            raise _refuse(
                RefusalCode.OUT_OF_STOCK, f"item {new_id} is not available", item_id=new_id
            )
        out.append((index, variant))
    return out


def _replace_lines(order: Order, changes: list[tuple[int, Variant]]) -> tuple[OrderItem, ...]:
    """Each changed unit becomes a line of its own new variant, at its price and options."""
    per_line: dict[int, list[Variant]] = {}
    for index, variant in changes:
        per_line.setdefault(index, []).append(variant)
    items: list[OrderItem] = []
    for index, line in enumerate(order.items):
        new = per_line.get(index, [])
        if line.quantity > len(new):
            items.append(replace(line, quantity=line.quantity - len(new)))
        items += [
            replace(line, item_id=v.item_id, price=v.price, options=dict(v.options), quantity=1)
            for v in new
        ]
    return tuple(items)


def _pairs(item_ids: tuple[str, ...], new_item_ids: tuple[str, ...]) -> list[tuple[str, str]]:
    if len(item_ids) != len(new_item_ids):
        raise _refuse(RefusalCode.INVALID, "as many new items as items to change are needed")
    return list(zip(item_ids, new_item_ids, strict=True))


def _difference(order: Order, changes: list[tuple[int, Variant]]) -> int:
    return sum(cents(v.price) - cents(order.items[i].price) for i, v in changes)


def cancel(order: Order, owner: Customer, req: CancelOrder) -> Effect:
    _need_status(order, exact=OrderStatus.PENDING)
    if req.reason not in CANCEL_REASONS:
        raise _refuse(RefusalCode.INVALID, f"reason must be one of {CANCEL_REASONS}")
    net: dict[str, int] = {}
    for p in order.payments:
        sign = 1 if p.transaction_type == TransactionType.PAYMENT else -1
        net[p.payment_method_id] = net.get(p.payment_method_id, 0) + sign * cents(p.amount)
    refunds = [
        Payment(transaction_type=TransactionType.REFUND, amount=money(c), payment_method_id=m)
        for m, c in net.items()
        if c > 0
    ]
    changed: list[PaymentMethod] = []
    for r in refunds:
        method = owner.payment_method(r.payment_method_id)
        if method is not None and method.is_gift_card:
            changed.append(_add_balance(method, cents(r.amount)))
    new = replace(
        order,
        status=OrderStatus.CANCELLED,
        cancel_reason=req.reason,
        payments=(*order.payments, *refunds),
    )
    return Effect(order=new, changed_methods=tuple(changed))


def modify_items(
    order: Order, owner: Customer, req: ModifyItems, variants: Mapping[str, Variant]
) -> Effect:
    _need_status(order, exact=OrderStatus.PENDING)
    _check_units(order, req.item_ids)
    changes = _new_variants(order, _pairs(req.item_ids, req.new_item_ids), variants)
    method = _method(owner, req.payment_method_id)
    diff = _difference(order, changes)
    _check_balance(method, diff)
    # Like τ²-bench: one history entry even when the difference is zero.
    entry = Payment(
        transaction_type=TransactionType.PAYMENT if diff > 0 else TransactionType.REFUND,
        amount=money(abs(diff)),
        payment_method_id=method.payment_method_id,
    )
    changed = (_add_balance(method, -diff),) if method.is_gift_card else ()
    new = replace(
        order,
        status=OrderStatus.PENDING_ITEM_MODIFIED,
        items=_replace_lines(order, changes),
        payments=(*order.payments, entry),
    )
    return Effect(order=new, changed_methods=changed)


def payment_changeable(order: Order) -> bool:
    """Whether the order's payment method can change: it holds exactly one payment."""
    return len(order.payments) == 1 and order.payments[0].transaction_type == (
        TransactionType.PAYMENT
    )


def modify_payment(order: Order, owner: Customer, req: ModifyPayment) -> Effect:
    _need_status(order, contains=OrderStatus.PENDING)
    method = _method(owner, req.payment_method_id)
    if not payment_changeable(order):
        raise _refuse(RefusalCode.INVALID, "the order must have exactly one payment")
    first = order.payments[0]
    if first.payment_method_id == method.payment_method_id:
        raise _refuse(RefusalCode.INVALID, "the new payment method is the current one")
    amount = cents(first.amount)
    _check_balance(method, amount)
    changed: list[PaymentMethod] = []
    if method.is_gift_card:
        changed.append(_add_balance(method, -amount))
    old = owner.payment_method(first.payment_method_id)
    if old is not None and old.is_gift_card:
        changed.append(_add_balance(old, amount))
    entries = (
        Payment(transaction_type=TransactionType.PAYMENT, amount=money(amount),
                payment_method_id=method.payment_method_id),
        Payment(transaction_type=TransactionType.REFUND, amount=money(amount),
                payment_method_id=first.payment_method_id),
    )  # fmt: skip
    return Effect(
        order=replace(order, payments=(*order.payments, *entries)), changed_methods=tuple(changed)
    )


def modify_order_address(order: Order, req: ModifyOrderAddress) -> Effect:
    _need_status(order, contains=OrderStatus.PENDING)
    return Effect(order=replace(order, address=req.address))


def modify_user_address(customer: Customer, req: ModifyUserAddress) -> Customer:
    return replace(customer, address=req.address)


def return_items(order: Order, owner: Customer, req: ReturnItems) -> Effect:
    _need_status(order, exact=OrderStatus.DELIVERED)
    method = _method(owner, req.payment_method_id)
    original = order.payments[0].payment_method_id if order.payments else None
    if not method.is_gift_card and method.payment_method_id != original:
        raise _refuse(
            RefusalCode.INVALID,
            "a refund goes to the original payment method or a gift card",
            payment_method_id=method.payment_method_id,
        )
    _check_units(order, req.item_ids)
    ret = ReturnRequest(
        item_ids=tuple(sorted(req.item_ids)), payment_method_id=method.payment_method_id
    )
    return Effect(order=replace(order, status=OrderStatus.RETURN_REQUESTED, return_request=ret))


def exchange_items(
    order: Order, owner: Customer, req: ExchangeItems, variants: Mapping[str, Variant]
) -> Effect:
    _need_status(order, exact=OrderStatus.DELIVERED)
    _check_units(order, req.item_ids)
    changes = _new_variants(order, _pairs(req.item_ids, req.new_item_ids), variants)
    method = _method(owner, req.payment_method_id)
    diff = _difference(order, changes)
    _check_balance(method, diff)
    exchange = ExchangeRequest(
        item_ids=tuple(sorted(req.item_ids)),
        new_item_ids=tuple(sorted(req.new_item_ids)),
        payment_method_id=method.payment_method_id,
        price_difference=money(diff),
    )
    return Effect(
        order=replace(order, status=OrderStatus.EXCHANGE_REQUESTED, exchange_request=exchange)
    )


def refund_amount(order: Order, item_ids: tuple[str, ...]) -> float:
    """What returning these units refunds: each unit's price as paid."""
    prices = {line.item_id: cents(line.price) for line in reversed(order.items)}
    return money(sum(prices.get(i, 0) for i in item_ids))


def new_ticket(req: NewTicket, *, ticket_id: str, now: float) -> Ticket:
    if not req.category.strip() or not req.subject.strip():
        raise _refuse(RefusalCode.INVALID, "a ticket needs a category and a subject")
    return Ticket(
        ticket_id=ticket_id,
        category=req.category.strip()[:64],
        subject=req.subject.strip()[:200],
        body=req.body[:20_000],
        user_id=req.user_id,
        verified=req.verified,
        order_id=req.order_id,
        status=TicketStatus.OPEN,
        created_at=now,
    )
