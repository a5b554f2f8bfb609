"""The Chinese demo shop: what the flows' tests rely on, and that it is consistent."""

from __future__ import annotations

import re

from kefu.commerce.demo import demo_shop, seed_demo
from kefu.commerce.memory import demo_orders
from kefu.commerce.sql_store import SqlShopStore
from kefu.commerce.wire import ShopFileModel
from kefu.domain.commerce import OrderStatus

NOW = 1_795_000_000.0


def test_the_four_orders_the_flows_use() -> None:
    got = {o.order_id: o for o in demo_orders(NOW)}
    assert {k: o.status for k, o in got.items()} == {
        "KF202611200001": "pending",
        "KF202611180002": "processed",
        "KF202611100003": "delivered",
        "KF202611050004": "cancelled",
    }
    lines = {k: [(i.item_id, i.name, i.options, i.price, i.quantity) for i in o.items]
             for k, o in got.items()}  # fmt: skip
    tee = ("1001-W-M", "纯棉圆领T恤", {"颜色": "白色", "尺码": "M"}, 79.0, 2)
    cup = ("2002-BLUE", "保温水杯 500ml", {"颜色": "蓝色"}, 129.0, 1)
    assert lines == {
        "KF202611200001": [tee],
        "KF202611180002": [cup, tee],
        "KF202611100003": [("3003-42", "轻便跑步鞋", {"尺码": "42"}, 399.0, 1)],
        "KF202611050004": [cup],
    }
    sf = got["KF202611180002"].shipments[0]
    assert (sf.courier, sf.tracking_number) == ("SF", "SF1234567890123")
    assert sf.events[-1].description == "快件正在派送中，派送员：王师傅"
    assert got["KF202611100003"].shipments[0].courier == "JD"


def test_every_status_and_courier_and_chinese_customers() -> None:
    shop = demo_shop(NOW)
    assert {o.status for o in shop.orders} == set(OrderStatus)
    assert {s.courier for o in shop.orders for s in o.shipments} == {"SF", "JD", "ZTO"}
    assert all(s.events for o in shop.orders for s in o.shipments)
    for c in shop.customers:
        assert re.fullmatch(r"1[3-9]\d{9}", c.phone)
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", c.display_name("zh"))
        assert c.display_name("en") == c.display_name("zh")  # 张伟 in English too, not "伟 张"
        a = c.address
        assert a is not None and a.state.endswith(("省", "市")) and a.city.endswith("市")
        assert a.district.endswith("区") and re.fullmatch(r"\d{6}", a.zip)
    options = {k for p in shop.products for v in p.variants for k in v.options}
    assert options == {"颜色", "尺码"}
    assert any(not v.in_stock for p in shop.products for v in p.variants)
    assert len(shop.orders) == len({o.order_id for o in shop.orders})


def test_the_demo_is_consistent() -> None:
    shop = demo_shop(NOW)
    variants = {v.item_id: v for p in shop.products for v in p.variants}
    owners = {c.user_id: c for c in shop.customers}
    for o in shop.orders:
        for line in o.items:
            v = variants[line.item_id]
            assert (v.product_id, v.options, v.price) == (line.product_id, line.options, line.price)
        for p in o.payments:
            assert owners[o.user_id].payment_method(p.payment_method_id) is not None, o.order_id
        paid = sum(p.amount if p.transaction_type == "payment" else -p.amount for p in o.payments)
        assert round(paid, 2) == (0.0 if o.status == "cancelled" else o.total), o.order_id


async def test_the_demo_round_trips_through_file_and_store(sql_shop: SqlShopStore) -> None:
    shop = demo_shop(NOW)
    assert (
        ShopFileModel.model_validate_json(ShopFileModel.of(shop).model_dump_json()).to_domain()
        == shop
    )
    await sql_shop.load("demo", shop)
    assert await sql_shop.dump("demo") == shop


async def test_seed_demo_only_into_an_empty_shop(sql_shop: SqlShopStore) -> None:
    assert await seed_demo(sql_shop, "fresh", now=NOW)
    assert not await seed_demo(sql_shop, "fresh", now=NOW + 1)
    assert await sql_shop.dump("fresh") == demo_shop(NOW)
    assert not await seed_demo(sql_shop, "t1")  # the conformance shop has orders
