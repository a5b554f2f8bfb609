"""kefu's Chinese demo shop (`kefu shop demo`): invented customers, products and orders.

It holds the four orders the built-in flows' tests use — KF202611200001 (pending),
KF202611180002 (shipped by SF, SF1234567890123), KF202611100003 (delivered, JD),
KF202611050004 (cancelled) — and at least one order in every other status.
"""

from __future__ import annotations

import time
from dataclasses import replace

from kefu.commerce.base import ShopAdmin
from kefu.domain.commerce import (
    Address,
    Customer,
    ExchangeRequest,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    Product,
    ReturnRequest,
    Shipment,
    ShopData,
    Ticket,
    TrackingEvent,
    Variant,
)

DAY = 86_400.0

COLOURS = {"W": "白色", "K": "黑色", "N": "藏青色", "G": "灰色", "C": "米白色"}


def _products() -> tuple[Product, ...]:
    tee = tuple(
        Variant(
            item_id=f"1001-{c}-{s}",
            product_id="1001",
            options={"颜色": COLOURS[c], "尺码": s},
            price=79.0,
            available=(c, s) != ("N", "XL"),
        )
        for c in ("W", "K", "N")
        for s in ("S", "M", "L", "XL")
    )
    cup = (
        Variant(item_id="2002-BLUE", product_id="2002", options={"颜色": "蓝色"}, price=129.0),
        Variant(item_id="2002-WHITE", product_id="2002", options={"颜色": "白色"}, price=129.0),
        Variant(
            item_id="2002-PINK",
            product_id="2002",
            options={"颜色": "粉色"},
            price=129.0,
            available=False,
        ),
        Variant(item_id="2002-BLACK", product_id="2002", options={"颜色": "黑色"}, price=139.0),
    )
    shoes = tuple(
        Variant(
            item_id=f"3003-{size}",
            product_id="3003",
            options={"尺码": str(size)},
            price=399.0,
            available=size != 44,
        )
        for size in range(38, 45)
    )
    down = tuple(
        Variant(
            item_id=f"4004-{c}-{s}",
            product_id="4004",
            options={"颜色": COLOURS[c], "尺码": s},
            price=629.0 if s == "XL" else 599.0,
            stock=0 if (c, s) == ("C", "XL") else 20,
        )
        for c in ("K", "C")
        for s in ("M", "L", "XL")
    )
    buds = (
        Variant(item_id="5005-W", product_id="5005", options={"颜色": "白色"}, price=299.0),
        Variant(item_id="5005-K", product_id="5005", options={"颜色": "黑色"}, price=299.0),
    )
    bag = (
        Variant(item_id="6006-G", product_id="6006", options={"颜色": "灰色"}, price=189.0),
        Variant(item_id="6006-K", product_id="6006", options={"颜色": "黑色"}, price=199.0),
    )
    return (
        Product(product_id="1001", name="纯棉圆领T恤", variants=tee),
        Product(product_id="2002", name="保温水杯 500ml", variants=cup),
        Product(product_id="3003", name="轻便跑步鞋", variants=shoes),
        Product(product_id="4004", name="轻薄羽绒服", variants=down),
        Product(product_id="5005", name="无线蓝牙耳机", variants=buds),
        Product(product_id="6006", name="通勤双肩包", variants=bag),
    )


def _addr(state: str, city: str, district: str, street: str, room: str, zip_code: str) -> Address:
    return Address(
        address1=street,
        address2=room,
        city=city,
        state=state,
        country="中国",
        zip=zip_code,
        district=district,
    )


def _customers() -> tuple[Customer, ...]:
    def person(uid: str, last: str, first: str, phone: str, addr: Address) -> Customer:
        n = uid[1:]
        methods: tuple[PaymentMethod, ...] = (
            PaymentMethod(payment_method_id=f"wechat_{n}", kind="wechat_pay"),
            PaymentMethod(payment_method_id=f"alipay_{n}", kind="alipay"),
            PaymentMethod(
                payment_method_id=f"card_{n}", kind="credit_card", brand="招商银行",
                last_four=phone[-4:],
            ),
            PaymentMethod(payment_method_id=f"gift_{n}", kind="gift_card", balance=200.0),
        )  # fmt: skip
        return Customer(
            user_id=uid,
            first_name=first,
            last_name=last,
            email=f"{uid}@example.cn",
            phone=phone,
            address=addr,
            payment_methods=methods,
        )

    return (
        person("u1001", "张", "伟", "13800138001",
               _addr("上海市", "上海市", "浦东新区", "世纪大道 100 号", "3 栋 1201 室", "200120")),
        person("u1002", "李", "娜", "13900139002",
               _addr("北京市", "北京市", "朝阳区", "建国路 88 号", "2 号楼 1605", "100022")),
        person("u1003", "王", "芳", "13700137003",
               _addr("浙江省", "杭州市", "西湖区", "文三路 90 号", "东部软件园 5 号楼", "310012")),
        person("u1004", "刘", "洋", "13600136004",
               _addr("广东省", "深圳市", "南山区", "科技园南路 15 号", "B 座 902", "518057")),
        person("u1005", "陈", "静", "13500135005",
               _addr("四川省", "成都市", "武侯区", "天府大道北段 1700 号", "1 栋 301", "610041")),
        person("u1006", "欧阳", "晓明", "13300133006",
               _addr("江苏省", "南京市", "鼓楼区", "中山北路 30 号", "", "210008")),
    )  # fmt: skip


# order id, customer, status, items ("item id" or "item id*quantity"), days ago, paid with
ORDERS: tuple[tuple[str, str, str, tuple[str, ...], float, str], ...] = (
    ("KF202611200001", "u1001", OrderStatus.PENDING, ("1001-W-M*2",), 1, "wechat_1001"),
    ("KF202611180002", "u1001", OrderStatus.PROCESSED, ("2002-BLUE", "1001-W-M*2"), 3, "card_1001"),
    ("KF202611100003", "u1002", OrderStatus.DELIVERED, ("3003-42",), 12, "alipay_1002"),
    ("KF202611050004", "u1002", OrderStatus.CANCELLED, ("2002-BLUE",), 20, "alipay_1002"),
    ("KF202611210005", "u1003", OrderStatus.PENDING, ("4004-K-L", "6006-G"), 0.5, "card_1003"),
    ("KF202611190006", "u1003", OrderStatus.PROCESSED, ("5005-W",), 2, "wechat_1003"),
    ("KF202611150007", "u1004", OrderStatus.DELIVERED, ("5005-K", "1001-K-L"), 7, "alipay_1004"),
    ("KF202611120008", "u1004", OrderStatus.RETURN_REQUESTED, ("6006-K",), 10, "card_1004"),
    ("KF202611080009", "u1005", OrderStatus.EXCHANGE_REQUESTED, ("1001-W-L",), 14, "wechat_1005"),
    ("KF202611220010", "u1005", OrderStatus.PENDING_ITEM_MODIFIED, ("4004-C-XL",), 0.8,
     "alipay_1005"),
    ("KF202611230011", "u1006", OrderStatus.PENDING, ("2002-BLUE", "2002-BLUE", "1001-N-M"), 0.3,
     "alipay_1006"),
    ("KF202611010012", "u1006", OrderStatus.DELIVERED, ("3003-40", "1001-K-M"), 22, "card_1006"),
    ("KF202611020013", "u1001", OrderStatus.DELIVERED, ("2002-WHITE", "1001-K-L"), 18, "card_1001"),
    ("KF202611030014", "u1003", OrderStatus.CANCELLED, ("2002-WHITE",), 16, "gift_1003"),
)  # fmt: skip
_ZTO_PICKUP = "【杭州市】快件已由中通快递揽收"
# order id -> courier, tracking number, events (days ago, description, location)
SHIPMENTS: dict[str, tuple[str, str, tuple[tuple[float, str, str], ...]]] = {
    "KF202611180002": ("SF", "SF1234567890123", (
        (2.5, "快件已揽收", "杭州"),
        (1.2, "快件已到达上海转运中心", "上海"),
        (0.2, "快件正在派送中，派送员：王师傅", "上海浦东"))),
    "KF202611100003": ("JD", "JDVA12345678901", (
        (11, "已揽收", "北京"), (9, "已签收，签收人：本人", "北京朝阳"))),
    "KF202611190006": ("ZTO", "78123456789012", (
        (1.5, _ZTO_PICKUP, "杭州"), (0.6, "【南京市】快件已到达南京中转部", "南京"))),
    "KF202611150007": ("ZTO", "78123456789029", (
        (6, _ZTO_PICKUP, "杭州"), (4, "【深圳市】快件已签收，签收人：前台", "深圳南山"))),
    "KF202611120008": ("JD", "JDVA12345678918", ((9, "已揽收", "广州"), (8, "已签收", "深圳南山"))),
    "KF202611080009": ("SF", "SF1234567890246", (
        (13, "快件已揽收", "杭州"), (11, "已签收", "成都武侯"))),
    "KF202611010012": ("SF", "SF1234567890369", (
        (21, "快件已揽收", "东莞"), (19, "已签收，签收人：本人", "南京鼓楼"))),
    "KF202611020013": ("ZTO", "78123456789036", (
        (17, _ZTO_PICKUP, "杭州"), (15, "【上海市】快件已签收，签收人：快递柜", "上海浦东"))),
}  # fmt: skip


def _refund(method: str, amount: float) -> Payment:
    return Payment(transaction_type="refund", amount=amount, payment_method_id=method)


def _after_sales(order: Order) -> Order:
    """The state the writes left on the demo's cancelled / returned / exchanged orders."""
    first = order.payments[0]
    if order.status == OrderStatus.CANCELLED:
        reason = "no longer needed" if order.user_id == "u1002" else "ordered by mistake"
        refund = _refund(first.payment_method_id, first.amount)
        return replace(order, cancel_reason=reason, payments=(first, refund))
    if order.status == OrderStatus.RETURN_REQUESTED:
        ret = ReturnRequest(
            item_ids=tuple(i.item_id for i in order.items),
            payment_method_id=first.payment_method_id,
        )
        return replace(order, return_request=ret)
    if order.status == OrderStatus.EXCHANGE_REQUESTED:
        exchange = ExchangeRequest(
            item_ids=("1001-W-L",),
            new_item_ids=("1001-W-XL",),
            payment_method_id=first.payment_method_id,
            price_difference=0.0,
        )
        return replace(order, exchange_request=exchange)
    if order.status == OrderStatus.PENDING_ITEM_MODIFIED:  # was 4004-C-L at 599.00
        paid = replace(first, amount=599.0)
        extra = Payment(transaction_type="payment", amount=30.0, payment_method_id="gift_1005")
        return replace(order, payments=(paid, extra))
    return order


def demo_shop(now: float | None = None) -> ShopData:
    """The demo shop; times are relative to `now` (default: the current time)."""
    t = float(int(time.time() if now is None else now))
    products = _products()
    customers = _customers()
    variants = {v.item_id: v for p in products for v in p.variants}
    names = {p.product_id: p.name for p in products}
    addresses = {c.user_id: c.address for c in customers}

    def line(spec: str) -> OrderItem:
        item_id, _, qty = spec.partition("*")
        v = variants[item_id]
        return OrderItem(
            item_id=v.item_id,
            product_id=v.product_id,
            name=names[v.product_id],
            options=dict(v.options),
            price=v.price,
            quantity=int(qty or 1),
        )

    def shipments(order_id: str, items: tuple[OrderItem, ...]) -> tuple[Shipment, ...]:
        if order_id not in SHIPMENTS:
            return ()
        courier, number, events = SHIPMENTS[order_id]
        evs = tuple(
            TrackingEvent(ts=t - round(d * DAY), description=text, location=where)
            for d, text, where in events
        )
        ids = tuple(dict.fromkeys(i.item_id for i in items))
        return (Shipment(courier=courier, tracking_number=number, item_ids=ids, events=evs),)

    orders = []
    for oid, uid, status, specs, days, method in ORDERS:
        items = tuple(line(s) for s in specs)
        total = round(sum(i.price * i.quantity for i in items), 2)
        paid = Payment(transaction_type="payment", amount=total, payment_method_id=method)
        order = Order(order_id=oid, user_id=uid, status=status, items=items,
                      created_at=t - round(days * DAY), address=addresses[uid],
                      payments=(paid,), shipments=shipments(oid, items))  # fmt: skip
        orders.append(_after_sales(order))
    tickets = (
        Ticket(
            ticket_id="TK000000000001",
            category="complaint",
            subject="快递员没有送货上门",
            body="包裹被放在快递柜，没有电话通知。",
            user_id="u1004",
            verified=True,
            order_id="KF202611150007",
            created_at=t - 3 * DAY,
        ),
    )
    return ShopData(customers=customers, products=products, orders=tuple(orders), tickets=tickets)


async def seed_demo(store: ShopAdmin, tenant: str = "default", *, now: float | None = None) -> bool:
    """Load the demo shop into `tenant` unless it has orders; whether it did."""
    if await store.has_orders(tenant):
        return False
    await store.load(tenant, demo_shop(now))
    return True
