"""Conformance suite every shop back end (every `Shop`) must pass.

Subclass `ShopConformance` in a test module and provide a `shop` fixture yielding a started
shop that holds `conformance_data()` in tenant `T1` and nothing in tenant `T2`::

    class TestSqliteShop(ShopConformance):
        @pytest.fixture
        async def shop(self, tmp_path): ...

The data is small and hand-made so every expected number can be checked by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

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
    RefusalCode,
    ReturnItems,
    Shop,
    ShopRefusal,
)
from kefu.domain.commerce import (
    Address,
    Customer,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Product,
    Shipment,
    ShopData,
    TrackingEvent,
    Variant,
)

T1 = "t1"
T2 = "t2"

_HOME = Address(address1="1 Main St", address2="Apt 2", city="Springfield", state="IL",
                country="USA", zip="10001")  # fmt: skip
_SH = Address(address1="世纪大道 100 号", address2="1201 室", city="上海市", state="上海市",
              country="中国", zip="200120", district="浦东新区")  # fmt: skip


def _v(item_id: str, product_id: str, price: float, **options: str) -> Variant:
    return Variant(item_id=item_id, product_id=product_id, options=options, price=price)


PRODUCTS = (
    Product(product_id="p1", name="T-Shirt", variants=(
        _v("i1a", "p1", 20.0, color="red", size="M"),
        _v("i1b", "p1", 25.5, color="blue", size="M"),
        Variant(item_id="i1c", product_id="p1", options={"color": "green", "size": "M"},
                price=22.0, available=False),
        _v("i1d", "p1", 19.0, color="red", size="L"),
    )),
    Product(product_id="p2", name="保温杯", variants=(
        _v("i2a", "p2", 10.0, 颜色="白色"),
        _v("i2b", "p2", 12.0, 颜色="黑色"),
        Variant(item_id="i2c", product_id="p2", options={"颜色": "粉色"}, price=11.0, stock=0),
    )),
)  # fmt: skip
_VARIANTS = {v.item_id: v for p in PRODUCTS for v in p.variants}


def _line(item_id: str) -> OrderItem:
    v = _VARIANTS[item_id]
    name = "T-Shirt" if v.product_id == "p1" else "保温杯"
    return OrderItem(item_id=v.item_id, product_id=v.product_id, name=name,
                     options=dict(v.options), price=v.price)  # fmt: skip


def _pay(method: str, amount: float, kind: str = "payment") -> Payment:
    return Payment(transaction_type=kind, amount=amount, payment_method_id=method)


def _order(oid: str, uid: str, status: str, items: tuple[str, ...], *payments: Payment,
           shipments: tuple[Shipment, ...] = ()) -> Order:  # fmt: skip
    return Order(order_id=oid, user_id=uid, status=status, items=tuple(_line(i) for i in items),
                 created_at=1_700_000_000.0 + int(oid[1:]) * 3600, currency="CNY",
                 address=_HOME if uid == "c1" else _SH, payments=payments,
                 shipments=shipments)  # fmt: skip


def _events(*texts: str) -> tuple[TrackingEvent, ...]:
    return tuple(
        TrackingEvent(ts=1_700_100_000.0 + i * 3600, description=x, location="杭州")
        for i, x in enumerate(texts)
    )


def conformance_data() -> ShopData:
    ada = Customer(user_id="c1", first_name="Ada", last_name="Lovelace", email="Ada@Example.com",
                   phone="13800000001", address=_HOME, payment_methods=(
                       PaymentMethod(payment_method_id="card_1", kind="credit_card",
                                     brand="visa", last_four="1111"),
                       PaymentMethod(payment_method_id="paypal_1", kind="paypal"),
                       PaymentMethod(payment_method_id="gift_1", kind="gift_card", balance=100.0),
                       PaymentMethod(payment_method_id="gift_2", kind="gift_card", balance=5.0),
                   ))  # fmt: skip
    wang = Customer(user_id="c2", first_name="小明", last_name="王", email="xm@example.cn",
                    phone="13900000002", address=_SH, payment_methods=(
                        PaymentMethod(payment_method_id="alipay_2", kind="alipay"),
                        PaymentMethod(payment_method_id="gift_3", kind="gift_card", balance=50.0),
                    ))  # fmt: skip
    orders = (
        _order("o1", "c1", "pending", ("i1a", "i2a"), _pay("card_1", 30.0)),
        _order("o2", "c1", "pending", ("i1a", "i1a"), _pay("gift_1", 40.0)),
        _order("o3", "c1", "delivered", ("i1a", "i2a"), _pay("paypal_1", 30.0),
               shipments=(Shipment(courier="ZTO", tracking_number="ZT001",
                                   item_ids=("i1a", "i2a"), events=_events("揽收", "签收")),)),
        _order("o4", "c1", "processed", ("i2a",), _pay("card_1", 10.0),
               shipments=(Shipment(courier="SF", tracking_number="SF001", item_ids=("i2a",),
                                   events=_events("揽收", "到达上海", "派送中")),)),
        _order("o5", "c2", "pending", ("i2b",), _pay("alipay_2", 12.0)),
        _order("o6", "c1", "cancelled", ("i2a",), _pay("card_1", 10.0),
               _pay("card_1", 10.0, "refund")),
        _order("o7", "c2", "delivered", ("i1d",), _pay("gift_3", 19.0)),
    )  # fmt: skip
    return ShopData(customers=(ada, wang), products=PRODUCTS, orders=orders)


def _key() -> str:
    return uuid.uuid4().hex


async def _balance(shop: Shop, user_id: str, method: str) -> float | None:
    customer = await shop.get_customer(T1, user_id)
    assert customer is not None
    found = customer.payment_method(method)
    assert found is not None
    return found.balance


async def _refused(code: RefusalCode, write: object) -> ShopRefusal:
    with pytest.raises(ShopRefusal) as info:
        await write  # type: ignore[misc]
    assert info.value.code == code, info.value
    return info.value


class ShopReadConformance:
    async def test_get_order_round_trips_every_field(self, shop: Shop) -> None:
        want = {o.order_id: o for o in conformance_data().orders}
        for order_id in ("o1", "o3", "o6"):
            assert await shop.get_order(T1, order_id) == want[order_id]
        assert await shop.get_order(T1, "nope") is None
        assert await shop.get_order(T2, "o1") is None  # tenants are separate

    async def test_list_orders_of_a_customer_in_shop_order(self, shop: Shop) -> None:
        got = await shop.list_orders(T1, "c1")
        assert [o.order_id for o in got] == ["o1", "o2", "o3", "o4", "o6"]
        assert await shop.list_orders(T1, "nobody") == []
        assert await shop.list_orders(T2, "c1") == []

    async def test_customer_by_id_and_each_proof(self, shop: Shop) -> None:
        ada = await shop.get_customer(T1, "c1")
        assert ada == conformance_data().customers[0]
        queries = [
            CustomerQuery(email=" ada@example.COM "),
            CustomerQuery(name="Ada Lovelace", zip="10001"),
            CustomerQuery(name="lovelace ada", zip=" 10001"),
            CustomerQuery(first_name="ada", last_name="LOVELACE", zip="10001"),
            CustomerQuery(phone="+86 138-0000-0001"),
        ]
        for q in queries:
            found = await shop.find_customer(T1, q)
            assert found is not None and found.user_id == "c1", q
        wang = await shop.find_customer(T1, CustomerQuery(name="王小明", zip="200120"))
        assert wang is not None and wang.user_id == "c2"

    async def test_customer_lookup_refuses_partial_or_wrong_proof(self, shop: Shop) -> None:
        for q in [
            CustomerQuery(name="Ada Lovelace", zip="99999"),
            CustomerQuery(name="Ada Byron", zip="10001"),
            CustomerQuery(name="Ada Lovelace"),
            CustomerQuery(zip="10001"),
            CustomerQuery(email="someone@example.com"),
            CustomerQuery(),
        ]:
            assert await shop.find_customer(T1, q) is None, q
        assert await shop.find_customer(T2, CustomerQuery(email="ada@example.com")) is None
        assert await shop.get_customer(T1, "nobody") is None

    async def test_catalog(self, shop: Shop) -> None:
        assert await shop.get_product(T1, "p1") == PRODUCTS[0]
        assert await shop.get_product(T1, "nope") is None
        assert await shop.get_variant(T1, "i2c") == PRODUCTS[1].variants[2]
        assert await shop.get_variant(T1, "nope") is None
        assert [p.product_id for p in await shop.list_products(T1)] == ["p1", "p2"]
        assert await shop.list_products(T2) == []

    async def test_tracking_from_stored_events(self, shop: Shop) -> None:
        got = await shop.track(T1, courier="SF", tracking_number="SF001")
        assert got is not None and got.courier == "SF" and not got.delivered
        assert [e.description for e in got.events] == ["揽收", "到达上海", "派送中"]
        done = await shop.track(T1, courier="ZTO", tracking_number="ZT001")
        assert done is not None and done.delivered
        assert await shop.track(T1, courier="SF", tracking_number="SF999") is None
        assert await shop.track(T2, courier="SF", tracking_number="SF001") is None

    async def test_tickets(self, shop: Shop) -> None:
        key = _key()
        req = NewTicket(category="complaint", subject="慢", body="包裹三天没动", user_id="c1",
                        verified=True, order_id="o4")  # fmt: skip
        ticket = await shop.create_ticket(T1, req, idempotency_key=key)
        assert ticket.ticket_id and ticket.status == "open" and ticket.order_id == "o4"
        assert await shop.create_ticket(T1, req, idempotency_key=key) == ticket
        assert await shop.get_ticket(T1, ticket.ticket_id) == ticket
        assert await shop.list_tickets(T1, "c1") == [ticket]
        assert await shop.get_ticket(T2, ticket.ticket_id) is None
        await _refused(
            RefusalCode.INVALID,
            shop.create_ticket(T1, NewTicket(category="", subject="x"), idempotency_key=_key()),
        )


class ShopCancelConformance:
    async def test_cancel_refunds_to_the_original_method(self, shop: Shop) -> None:
        req = CancelOrder(order_id="o1", reason="ordered by mistake")
        got = await shop.cancel_order(T1, req, idempotency_key=_key())
        assert got.status == "cancelled" and got.cancel_reason == "ordered by mistake"
        assert got.payments == (_pay("card_1", 30.0), _pay("card_1", 30.0, "refund"))
        assert await shop.get_order(T1, "o1") == got

    async def test_cancel_restores_a_gift_card_balance(self, shop: Shop) -> None:
        req = CancelOrder(order_id="o2", reason="no longer needed")
        await shop.cancel_order(T1, req, idempotency_key=_key())
        assert await _balance(shop, "c1", "gift_1") == 140.0

    async def test_a_retried_key_returns_the_first_result_and_writes_once(self, shop: Shop) -> None:
        key = _key()
        req = CancelOrder(order_id="o2", reason="no longer needed")
        first = await shop.cancel_order(T1, req, idempotency_key=key)
        again = await shop.cancel_order(T1, req, idempotency_key=key)
        assert again == first
        assert await _balance(shop, "c1", "gift_1") == 140.0
        other = CancelOrder(order_id="o5", reason="no longer needed")
        await _refused(
            RefusalCode.IDEMPOTENCY_CONFLICT, shop.cancel_order(T1, other, idempotency_key=key)
        )
        order5 = await shop.get_order(T1, "o5")
        assert order5 is not None and order5.status == "pending"

    async def test_cancel_refusals_write_nothing(self, shop: Shop) -> None:
        bad = CancelOrder(order_id="o1", reason="too expensive")
        await _refused(RefusalCode.INVALID, shop.cancel_order(T1, bad, idempotency_key=_key()))
        shipped = CancelOrder(order_id="o4", reason="no longer needed")
        err = await _refused(
            RefusalCode.WRONG_STATUS, shop.cancel_order(T1, shipped, idempotency_key=_key())
        )
        assert err.details.get("status") == "processed"
        gone = CancelOrder(order_id="nope", reason="no longer needed")
        await _refused(RefusalCode.NOT_FOUND, shop.cancel_order(T1, gone, idempotency_key=_key()))
        other_tenant = CancelOrder(order_id="o1", reason="no longer needed")
        await _refused(
            RefusalCode.NOT_FOUND, shop.cancel_order(T2, other_tenant, idempotency_key=_key())
        )
        assert await shop.get_order(T1, "o1") == conformance_data().orders[0]

    async def test_concurrent_cancels_write_once(self, shop: Shop) -> None:
        req = CancelOrder(order_id="o2", reason="no longer needed")
        results = await asyncio.gather(
            *(shop.cancel_order(T1, req, idempotency_key=_key()) for _ in range(4)),
            return_exceptions=True,
        )
        ok = [r for r in results if isinstance(r, Order)]
        refused = [r for r in results if isinstance(r, ShopRefusal)]
        assert len(ok) == 1 and len(refused) == 3, results
        assert all(r.code == RefusalCode.WRONG_STATUS for r in refused)
        assert await _balance(shop, "c1", "gift_1") == 140.0

    async def test_concurrent_retries_of_one_key_write_once(self, shop: Shop) -> None:
        key = _key()
        req = CancelOrder(order_id="o2", reason="no longer needed")
        results = await asyncio.gather(
            *(shop.cancel_order(T1, req, idempotency_key=key) for _ in range(4))
        )
        assert all(r == results[0] for r in results)
        assert await _balance(shop, "c1", "gift_1") == 140.0


class ShopChangeConformance:
    async def test_modify_items_prices_each_item_by_its_own_variant(self, shop: Shop) -> None:
        req = ModifyItems(order_id="o1", item_ids=("i1a", "i2a"), new_item_ids=("i1b", "i2b"),
                          payment_method_id="gift_1")  # fmt: skip
        got = await shop.modify_items(T1, req, idempotency_key=_key())
        assert got.status == "pending (item modified)"
        assert [(i.item_id, i.price, i.options) for i in got.items] == [
            ("i1b", 25.5, {"color": "blue", "size": "M"}),
            ("i2b", 12.0, {"颜色": "黑色"}),
        ]
        assert [i.name for i in got.items] == ["T-Shirt", "保温杯"]
        assert got.payments[-1] == _pay("gift_1", 7.5)
        assert await _balance(shop, "c1", "gift_1") == 92.5
        again = ModifyItems(order_id="o1", item_ids=("i1b",), new_item_ids=("i1a",),
                            payment_method_id="card_1")  # fmt: skip
        await _refused(
            RefusalCode.WRONG_STATUS, shop.modify_items(T1, again, idempotency_key=_key())
        )

    async def test_modify_one_of_two_equal_lines_and_refund_the_difference(
        self, shop: Shop
    ) -> None:
        req = ModifyItems(order_id="o2", item_ids=("i1a",), new_item_ids=("i1d",),
                          payment_method_id="gift_1")  # fmt: skip
        got = await shop.modify_items(T1, req, idempotency_key=_key())
        assert [(i.item_id, i.price) for i in got.items] == [("i1d", 19.0), ("i1a", 20.0)]
        assert got.payments[-1] == _pay("gift_1", 1.0, "refund")
        assert await _balance(shop, "c1", "gift_1") == 101.0

    async def test_modify_items_refusals_write_nothing(self, shop: Shop) -> None:
        def req(old: tuple[str, ...], new: tuple[str, ...], pm: str = "card_1") -> ModifyItems:
            return ModifyItems(order_id="o1", item_ids=old, new_item_ids=new, payment_method_id=pm)

        cases = [
            (RefusalCode.OUT_OF_STOCK, req(("i1a",), ("i1c",))),
            (RefusalCode.OUT_OF_STOCK, req(("i2a",), ("i2c",))),  # stock 0
            (RefusalCode.INVALID, req(("i1a",), ("i2b",))),  # another product
            (RefusalCode.INVALID, req(("i1a",), ("nope",))),
            (RefusalCode.INVALID, req(("i1a",), ("i1a",))),  # no change
            (RefusalCode.INVALID, req(("i1a", "i1a"), ("i1b", "i1d"))),  # only one i1a
            (RefusalCode.INVALID, req(("i1a",), ("i1b", "i1d"))),
            (RefusalCode.INVALID, req(("i1a",), ("i1b",), "alipay_2")),  # not theirs
            (RefusalCode.INSUFFICIENT_BALANCE, req(("i1a", "i2a"), ("i1b", "i2b"), "gift_2")),
        ]
        for code, r in cases:
            await _refused(code, shop.modify_items(T1, r, idempotency_key=_key()))
        assert await shop.get_order(T1, "o1") == conformance_data().orders[0]
        assert await _balance(shop, "c1", "gift_2") == 5.0
        shipped = ModifyItems(order_id="o3", item_ids=("i1a",), new_item_ids=("i1b",),
                              payment_method_id="card_1")  # fmt: skip
        await _refused(
            RefusalCode.WRONG_STATUS, shop.modify_items(T1, shipped, idempotency_key=_key())
        )

    async def test_modify_payment(self, shop: Shop) -> None:
        req = ModifyPayment(order_id="o2", payment_method_id="paypal_1")
        got = await shop.modify_payment(T1, req, idempotency_key=_key())
        assert got.status == "pending"
        assert got.payments == (
            _pay("gift_1", 40.0),
            _pay("paypal_1", 40.0),
            _pay("gift_1", 40.0, "refund"),
        )
        assert await _balance(shop, "c1", "gift_1") == 140.0
        to_gift = ModifyPayment(order_id="o1", payment_method_id="gift_1")
        got = await shop.modify_payment(T1, to_gift, idempotency_key=_key())
        assert got.payments[-2:] == (_pay("gift_1", 30.0), _pay("card_1", 30.0, "refund"))
        assert await _balance(shop, "c1", "gift_1") == 110.0

    async def test_modify_payment_refusals(self, shop: Shop) -> None:
        for code, order_id, method in [
            (RefusalCode.INVALID, "o1", "card_1"),  # the same method
            (RefusalCode.INSUFFICIENT_BALANCE, "o1", "gift_2"),
            (RefusalCode.INVALID, "o1", "gift_3"),  # another customer's
            (RefusalCode.WRONG_STATUS, "o3", "card_1"),
            (RefusalCode.NOT_FOUND, "nope", "card_1"),
        ]:
            req = ModifyPayment(order_id=order_id, payment_method_id=method)
            await _refused(code, shop.modify_payment(T1, req, idempotency_key=_key()))
        assert await shop.get_order(T1, "o1") == conformance_data().orders[0]

    async def test_modify_order_address_while_pending(self, shop: Shop) -> None:
        items = ModifyItems(order_id="o1", item_ids=("i1a",), new_item_ids=("i1d",),
                            payment_method_id="card_1")  # fmt: skip
        await shop.modify_items(T1, items, idempotency_key=_key())
        req = ModifyOrderAddress(order_id="o1", address=_SH)
        got = await shop.modify_address(T1, req, idempotency_key=_key())
        assert got.address == _SH and got.status == "pending (item modified)"
        late = ModifyOrderAddress(order_id="o4", address=_SH)
        await _refused(
            RefusalCode.WRONG_STATUS, shop.modify_address(T1, late, idempotency_key=_key())
        )

    async def test_modify_user_address(self, shop: Shop) -> None:
        req = ModifyUserAddress(user_id="c1", address=_SH)
        got = await shop.modify_user_address(T1, req, idempotency_key=_key())
        assert got.address == _SH
        assert await shop.find_customer(T1, CustomerQuery(name="Ada Lovelace", zip="200120"))
        order = await shop.get_order(T1, "o1")
        assert order is not None and order.address == _HOME  # orders keep theirs
        gone = ModifyUserAddress(user_id="nobody", address=_SH)
        await _refused(
            RefusalCode.NOT_FOUND, shop.modify_user_address(T1, gone, idempotency_key=_key())
        )

    async def test_return_items(self, shop: Shop) -> None:
        req = ReturnItems(order_id="o3", item_ids=("i2a", "i1a"), payment_method_id="paypal_1")
        got = await shop.return_items(T1, req, idempotency_key=_key())
        assert got.status == "return requested"
        assert got.return_request is not None
        assert got.return_request.item_ids == ("i1a", "i2a")
        assert got.return_request.payment_method_id == "paypal_1"
        to_gift = ReturnItems(order_id="o7", item_ids=("i1d",), payment_method_id="gift_3")
        assert (await shop.return_items(T1, to_gift, idempotency_key=_key())).return_request

    async def test_return_refusals(self, shop: Shop) -> None:
        for code, order_id, items, method in [
            (RefusalCode.INVALID, "o3", ("i1a",), "card_1"),  # neither original nor gift card
            (RefusalCode.INVALID, "o3", ("i1b",), "paypal_1"),  # not in the order
            (RefusalCode.INVALID, "o3", ("i1a", "i1a"), "paypal_1"),
            (RefusalCode.WRONG_STATUS, "o1", ("i1a",), "card_1"),
            (RefusalCode.WRONG_STATUS, "o4", ("i2a",), "card_1"),
        ]:
            req = ReturnItems(order_id=order_id, item_ids=items, payment_method_id=method)
            await _refused(code, shop.return_items(T1, req, idempotency_key=_key()))
        assert await shop.get_order(T1, "o3") == conformance_data().orders[2]

    async def test_exchange_items(self, shop: Shop) -> None:
        req = ExchangeItems(order_id="o3", item_ids=("i2a", "i1a"), new_item_ids=("i2b", "i1d"),
                            payment_method_id="gift_2")  # fmt: skip
        got = await shop.exchange_items(T1, req, idempotency_key=_key())
        assert got.status == "exchange requested"
        x = got.exchange_request
        assert x is not None
        assert (x.item_ids, x.new_item_ids) == (("i1a", "i2a"), ("i1d", "i2b"))
        assert (x.payment_method_id, x.price_difference) == ("gift_2", 1.0)
        assert [i.item_id for i in got.items] == ["i1a", "i2a"]  # lines change on arrival
        assert await _balance(shop, "c1", "gift_2") == 5.0  # nothing moves yet

    async def test_exchange_refusals(self, shop: Shop) -> None:
        def req(new: str, method: str = "paypal_1", order_id: str = "o3") -> ExchangeItems:
            return ExchangeItems(order_id=order_id, item_ids=("i2a",), new_item_ids=(new,),
                                 payment_method_id=method)  # fmt: skip

        for code, r in [
            (RefusalCode.OUT_OF_STOCK, req("i2c")),
            (RefusalCode.INVALID, req("i1a")),
            (RefusalCode.INSUFFICIENT_BALANCE, ExchangeItems(
                order_id="o3", item_ids=("i1a",), new_item_ids=("i1b",),
                payment_method_id="gift_2")),
            (RefusalCode.WRONG_STATUS, req("i2b", "card_1", "o1")),
        ]:  # fmt: skip
            await _refused(code, shop.exchange_items(T1, r, idempotency_key=_key()))
        assert await shop.get_order(T1, "o3") == conformance_data().orders[2]

    async def test_anonymise_tickets_keeps_the_statistics(self, shop: Shop) -> None:
        key = _key()
        req = NewTicket(category="complaint", subject="慢", body="电话 13800000001",
                        user_id="c1", verified=True, order_id="o4")  # fmt: skip
        first = await shop.create_ticket(T1, req, idempotency_key=key)
        second = NewTicket(category="refund", subject="退款", user_id="c1")
        await shop.create_ticket(T1, second, idempotency_key=_key())
        third = NewTicket(category="general", subject="你好", user_id="c2")
        other = await shop.create_ticket(T1, third, idempotency_key=_key())
        assert await shop.anonymise_tickets(T2, "c1") == 0  # tenants are separate
        assert await shop.anonymise_tickets(T1, "c1") == 2
        erased = replace(first, subject=ERASED, body=ERASED, user_id=None, order_id=None)
        assert await shop.get_ticket(T1, first.ticket_id) == erased
        assert await shop.list_tickets(T1, "c1") == []
        assert await shop.get_ticket(T1, other.ticket_id) == other
        # A retried create returns the erased ticket, not the text it was sent.
        assert await shop.create_ticket(T1, req, idempotency_key=key) == erased
        assert await shop.anonymise_tickets(T1, "c1") == 0


class ShopConformance(ShopReadConformance, ShopCancelConformance, ShopChangeConformance):
    """Every behaviour a shop back end must have."""
