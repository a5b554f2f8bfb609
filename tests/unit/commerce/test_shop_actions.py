"""The actions flows call: slots in, status and data out, ownership, idempotency."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kefu.commerce.actions import ShopActions
from kefu.commerce.base import ConnectorError
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult
from kefu.domain.commerce import Tracking, TrackingEvent
from kefu.testing.fakes import FakeOrderService

ZHANG, LI = "u1001", "u1002"  # demo customers 张伟 and 李娜


@pytest.fixture
def shop() -> FakeOrderService:
    return FakeOrderService()


@pytest.fixture
def registry(shop: FakeOrderService) -> ActionRegistry:
    registry = ActionRegistry(timeout_s=0.2)
    ShopActions.for_shop(shop).register(registry)
    return registry


async def run(
    registry: ActionRegistry,
    action: str,
    /,
    *,
    user: str | None = None,
    key: str | None = None,
    lang: str = "zh",
    trusted: str | None = None,
    **slots: Any,
) -> ActionResult:
    if user is not None:
        slots["verified_user_id"] = user
    ctx = ActionContext(
        session_id="s1",
        tenant="default",
        user_id=trusted,
        user_verified=trusted is not None,
        lang=lang,
        slots=slots,
        idempotency_key=key or uuid.uuid4().hex,
    )
    return await registry.run(action, ctx)


def test_every_action_of_the_contract_is_registered(registry: ActionRegistry) -> None:
    assert registry.names() == {
        "lookup_order", "track_order", "list_orders", "list_order_items", "verify_customer",
        "list_payment_methods", "get_product", "list_variants", "cancel_order", "modify_items",
        "modify_payment", "modify_address", "modify_user_address", "return_items",
        "exchange_items", "create_ticket",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("slots", "method"),
    [
        ({"email": "U1001@example.cn"}, "email"),
        ({"name": "张伟", "zip": "200120"}, "name_zip"),
        ({"first_name": "伟", "last_name": "张", "zip": "200120"}, "name_zip"),
        ({"phone": "+86 138 0013 8001"}, "phone"),
    ],
)
async def test_verify_customer_each_way(
    registry: ActionRegistry, slots: dict[str, str], method: str
) -> None:
    got = await run(registry, "verify_customer", **slots)
    assert got.status == "ok"
    assert got.data == {"verified_user_id": ZHANG, "name": "张伟", "method": method}


async def test_verify_customer_failures(registry: ActionRegistry) -> None:
    assert (await run(registry, "verify_customer", name="张伟", zip="100022")).status == "not_found"
    assert (await run(registry, "verify_customer", name="张伟")).status == "invalid"
    other = await run(registry, "verify_customer", email="u1002@example.cn", trusted=ZHANG)
    assert other.status == "forbidden"  # a logged-in customer cannot become another one


async def test_list_orders_is_option_ready_newest_first(registry: ActionRegistry) -> None:
    assert (await run(registry, "list_orders")).status == "unverified"
    got = await run(registry, "list_orders", user=ZHANG)
    assert got.status == "ok"
    orders = got.data["orders"]
    assert isinstance(orders, list)
    assert [o["order_id"] for o in orders] == [  # type: ignore[index]
        "KF202611200001", "KF202611180002", "KF202611020013",
    ]  # fmt: skip
    first = orders[0]
    assert first == {
        "order_id": "KF202611200001",
        "status": "pending",
        "status_label": "待发货",
        "summary": "纯棉圆领T恤（颜色白色，尺码M） ×2",
        "total": 158.0,
        "currency": "CNY",
        "created_at": first["created_at"],  # type: ignore[index]
        "label": "KF202611200001 · 待发货 · 纯棉圆领T恤（颜色白色，尺码M） ×2",
        "payload": {"order_id": "KF202611200001"},
    }
    delivered = await run(registry, "list_orders", user=ZHANG, order_statuses="delivered")
    assert [o["order_id"] for o in delivered.data["orders"]] == ["KF202611020013"]  # type: ignore[index, union-attr]
    none = await run(registry, "list_orders", user=ZHANG, order_statuses=["return requested"])
    assert (none.status, none.data["count"]) == ("not_found", 0)
    theirs = await run(registry, "list_orders", user="u1004", order_statuses="return_requested")
    assert [o["order_id"] for o in theirs.data["orders"]] == ["KF202611120008"]  # type: ignore[index, union-attr]
    both = await run(
        registry,
        "list_orders",
        user="u1005",
        order_statuses="pending (item modified)，exchange requested",
    )
    assert both.data["count"] == 2


async def test_list_order_items_gives_each_line_its_own_option(registry: ActionRegistry) -> None:
    got = await run(registry, "list_order_items", user="u1006", order_id="KF202611230011")
    items = got.data["items"]
    assert isinstance(items, list)
    assert [i["payload"] for i in items] == [  # type: ignore[index]
        {"item_id": "2002-BLUE", "line": 0},
        {"item_id": "2002-BLUE", "line": 1},
        {"item_id": "1001-N-M", "line": 2},
    ]
    assert items[0]["label"] == "保温水杯 500ml（颜色蓝色）"  # type: ignore[index]
    two = await run(registry, "list_order_items", user=ZHANG, order_id="KF202611200001")
    line = two.data["items"][0]  # type: ignore[index]
    assert line["label"] == "纯棉圆领T恤（颜色白色，尺码M） ×2"  # type: ignore[index]
    assert line["unit_label"] == "纯棉圆领T恤（颜色白色，尺码M）"  # type: ignore[index]


async def test_reads_refuse_another_customers_order(registry: ActionRegistry) -> None:
    for name in ("lookup_order", "track_order", "list_order_items"):
        got = await run(registry, name, user=LI, order_id="KF202611180002")
        assert got.status == "forbidden", name
        trusted = await run(registry, name, trusted=LI, order_id="KF202611180002")
        assert trusted.status == "forbidden", name
    # Without any identity the read flows work as before (the flow decides to verify).
    assert (await run(registry, "lookup_order", order_id="KF202611180002")).status == "ok"


async def test_track_order(registry: ActionRegistry) -> None:
    got = await run(registry, "track_order", user=ZHANG, order_id="KF202611180002", lang="en")
    assert got.status == "ok"
    assert got.data["courier_name"] == "SF Express"
    assert got.data["tracking_number"] == "SF1234567890123"
    assert got.data["latest"] == "快件正在派送中，派送员：王师傅"
    pending = await run(registry, "track_order", user=ZHANG, order_id="KF202611200001")
    assert (pending.status, pending.data) == ("not_shipped", {"status_label": "待发货"})


class _Courier:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def track(
        self, tenant: str, *, courier: str, tracking_number: str, phone: str = ""
    ) -> Tracking | None:
        if self.fail:
            raise ConnectorError("aggregator down")
        assert phone == "13800138001"  # SF asks for the receiver's phone
        event = TrackingEvent(ts=2e9, description="已签收，感谢使用顺丰", location="上海")
        return Tracking(courier=courier, tracking_number=tracking_number, events=(event,))


@pytest.mark.parametrize("fail", [False, True])
async def test_track_order_asks_the_logistics_service(shop: FakeOrderService, fail: bool) -> None:
    registry = ActionRegistry()
    ShopActions.for_shop(shop, logistics=_Courier(fail)).register(registry)
    got = await run(registry, "track_order", user=ZHANG, order_id="KF202611180002")
    assert got.data["latest"] == (
        "快件正在派送中，派送员：王师傅" if fail else "已签收，感谢使用顺丰"
    )


async def test_writes_need_a_verified_owner(registry: ActionRegistry) -> None:
    slots = {"order_id": "KF202611200001", "reason": "no longer needed"}
    assert (await run(registry, "cancel_order", **slots)).status == "unverified"
    assert (await run(registry, "cancel_order", user=LI, **slots)).status == "forbidden"
    assert (await run(registry, "cancel_order", trusted=LI, **slots)).status == "forbidden"
    missing = await run(registry, "cancel_order", user=ZHANG, order_id="KF209999999999")
    assert missing.status == "not_found"


async def test_cancel_order(registry: ActionRegistry, shop: FakeOrderService) -> None:
    slots = {"order_id": "KF202611200001", "reason": "拍错了"}
    key = uuid.uuid4().hex
    got = await run(registry, "cancel_order", user=ZHANG, key=key, **slots)
    assert got.status == "ok"
    assert got.data["status"] == "cancelled" and got.data["status_label"] == "已取消"
    assert got.data["cancel_reason"] == "ordered by mistake"
    assert got.data["refunds"] == [{"amount": 158.0, "payment_method_id": "wechat_1001"}]
    again = await run(registry, "cancel_order", user=ZHANG, key=key, **slots)
    assert again == got  # a retried confirmation writes nothing more
    order = await shop.get_order("default", "KF202611200001")
    assert order is not None and len(order.payments) == 2
    late = await run(registry, "cancel_order", user=ZHANG, **slots)
    assert late.status == "wrong_status" and late.data["status_label"] == "已取消"


async def test_cancel_needs_an_allowed_reason(registry: ActionRegistry) -> None:
    got = await run(registry, "cancel_order", user=ZHANG, order_id="KF202611200001", reason="贵")
    assert got.status == "invalid" and got.data["missing"] == ["reason"]


async def test_a_failing_back_end_is_an_error_and_writes_nothing(
    registry: ActionRegistry, shop: FakeOrderService
) -> None:
    slots = {"order_id": "KF202611200001", "reason": "no longer needed"}
    for mode in ("error", "garbage", "timeout"):
        shop.mode = mode  # type: ignore[assignment]
        got = await run(registry, "cancel_order", user=ZHANG, **slots)
        assert got.status == "error", mode
    shop.mode = "ok"
    order = await shop.get_order("default", "KF202611200001")
    assert order is not None and order.status == "pending"


async def test_modify_items(registry: ActionRegistry) -> None:
    base = {"order_id": "KF202611210005", "user": "u1003"}
    out = await run(registry, "modify_items", **base, item_ids=["4004-K-L"],
                    new_item_ids=["4004-C-XL"], payment_method_id="card_1003")  # fmt: skip
    assert out.status == "out_of_stock" and out.data["item_id"] == "4004-C-XL"
    poor = await run(registry, "modify_items", **base, item_id="6006-G", new_item_id="6006-K",
                     payment_method_id="gift_1003")  # fmt: skip
    assert poor.status == "ok"  # 10.00 more, the gift card holds 200
    assert poor.data["price_difference"] == 10.0
    assert poor.data["status"] == "pending (item modified)"
    missing = await run(registry, "modify_items", order_id="KF202611200001", user=ZHANG,
                        item_ids="1001-W-M", new_item_ids="1001-K-M")  # fmt: skip
    assert missing.status == "invalid" and missing.data["missing"] == ["payment_method_id"]
    same = await run(registry, "modify_items", order_id="KF202611200001", user=ZHANG,
                     item_ids="1001-W-M", new_item_ids="1001-K-M",
                     payment_method_id="gift_1001")  # fmt: skip
    # the same price: a difference of 0.00, which a summary must not show as -0.00
    assert same.status == "ok" and str(same.data["price_difference"]) == "0.0"


async def test_modify_items_by_button_payloads(registry: ActionRegistry) -> None:
    got = await run(
        registry, "modify_items", user="u1006", order_id="KF202611230011",
        item_ids={"selected": [{"item_id": "2002-BLUE", "line": 1}]},
        new_item_ids=[{"new_item_id": "2002-BLACK"}], payment_method_id="gift_1006",
    )  # fmt: skip
    assert got.status == "ok"
    items = got.data["items"]
    assert [i["item_id"] for i in items] == ["2002-BLACK", "2002-BLUE", "1001-N-M"]  # type: ignore[index, union-attr]
    assert got.data["price_difference"] == 10.0


async def test_insufficient_balance(registry: ActionRegistry) -> None:
    got = await run(registry, "modify_payment", user=ZHANG, order_id="KF202611200001",
                    payment_method_id="gift_1001")  # fmt: skip
    assert got.status == "ok"  # 158.00 of 200.00
    again = await run(registry, "modify_items", user="u1003", order_id="KF202611210005",
                      item_ids="4004-K-L", new_item_ids="4004-K-XL",
                      payment_method_id="gift_1003")  # fmt: skip
    assert again.status == "ok"
    poor = await run(registry, "modify_payment", user="u1006", order_id="KF202611230011",
                     payment_method_id="gift_1006")  # fmt: skip
    assert poor.status == "insufficient_balance"
    assert poor.data["balance"] == 200.0 and poor.data["required"] == 337.0


async def test_modify_addresses(registry: ActionRegistry, shop: FakeOrderService) -> None:
    new = {"address1": "文三路 478 号", "city": "杭州市", "state": "浙江省", "district": "西湖区",
           "postcode": "310013"}  # fmt: skip
    got = await run(registry, "modify_address", user=ZHANG, order_id="KF202611200001", **new)
    assert got.status == "ok"
    assert got.data["address"] == {
        "address1": "文三路 478 号", "address2": "", "city": "杭州市", "state": "浙江省",
        "country": "中国", "zip": "310013", "district": "西湖区",
    }  # fmt: skip
    partial = await run(registry, "modify_address", user=ZHANG, order_id="KF202611200001",
                        address={"address1": "x", "city": "y"})  # fmt: skip
    assert partial.status == "invalid" and partial.data["missing"] == ["state", "zip"]
    shipped = await run(registry, "modify_address", user=ZHANG, order_id="KF202611180002", **new)
    assert shipped.status == "wrong_status"
    mine = await run(registry, "modify_user_address", user=ZHANG, country="中国", **new)
    assert mine.status == "ok" and mine.data["user_id"] == ZHANG
    customer = await shop.get_customer("default", ZHANG)
    assert customer is not None and customer.address is not None
    assert customer.address.zip == "310013"


async def test_return_items_defaults_to_the_original_method(registry: ActionRegistry) -> None:
    got = await run(registry, "return_items", user=LI, order_id="KF202611100003",
                    item_ids=[{"item_id": "3003-42"}])  # fmt: skip
    assert got.status == "ok" and got.data["status_label"] == "退货处理中"
    assert got.data["refund_amount"] == 399.0 and got.data["payment_method_id"] == "alipay_1002"
    pending = await run(registry, "return_items", user=ZHANG, order_id="KF202611200001",
                        item_ids="1001-W-M")  # fmt: skip
    assert pending.status == "wrong_status" and pending.data["status_label"] == "待发货"


async def test_exchange_items_with_changes(registry: ActionRegistry) -> None:
    got = await run(
        registry, "exchange_items", user="u1006", order_id="KF202611010012",
        changes=[{"item_id": "3003-40", "new_item_id": "3003-41"},
                 {"item_id": "1001-K-M", "new_item_id": "1001-K-L"}],
        payment_method_id="card_1006",
    )  # fmt: skip
    assert got.status == "ok"
    assert got.data["exchange_new_items"] == ["1001-K-L", "3003-41"]
    assert got.data["price_difference"] == 0.0
    gone = await run(registry, "exchange_items", user=LI, order_id="KF202611100003",
                     item_ids="3003-42", new_item_ids="3003-44",
                     payment_method_id="alipay_1002")  # fmt: skip
    assert gone.status == "out_of_stock"


async def test_list_variants_and_get_product(registry: ActionRegistry) -> None:
    got = await run(registry, "list_variants", item_id="1001-W-M")
    ids = [v["item_id"] for v in got.data["variants"]]  # type: ignore[index, union-attr]
    assert "1001-W-M" not in ids and "1001-N-XL" not in ids and len(ids) == 10
    black_l = await run(registry, "list_variants", item_id="1001-W-M", variant_query="换黑色L码")
    assert [v["item_id"] for v in black_l.data["variants"]] == ["1001-K-L"]  # type: ignore[index, union-attr]
    assert black_l.data["variants"][0]["payload"] == {"new_item_id": "1001-K-L"}  # type: ignore[index]
    cup = await run(registry, "list_variants", item_id="2002-BLUE", variant_query="黑色")
    assert cup.data["variants"][0]["price_difference"] == 10.0  # type: ignore[index]
    product = await run(registry, "get_product", product_id="3003")
    assert product.status == "ok" and len(product.data["variants"]) == 7  # type: ignore[arg-type]
    assert (await run(registry, "get_product", product_id="9999")).status == "not_found"


async def test_list_payment_methods_for_each_purpose(registry: ActionRegistry) -> None:
    def ids(r: ActionResult) -> list[str]:
        return [m["payment_method_id"] for m in r.data["payment_methods"]]  # type: ignore[index, union-attr]

    assert (await run(registry, "list_payment_methods")).status == "unverified"
    every = await run(registry, "list_payment_methods", user=ZHANG)
    assert ids(every) == ["wechat_1001", "alipay_1001", "card_1001", "gift_1001"]
    assert every.data["payment_methods"][2]["label"] == "招商银行 银行卡 ****8001"  # type: ignore[index]
    change = await run(registry, "list_payment_methods", user=ZHANG, order_id="KF202611200001",
                       payment_purpose="modify_payment")  # fmt: skip
    assert ids(change) == ["alipay_1001", "card_1001", "gift_1001"]
    refund = await run(registry, "list_payment_methods", user=ZHANG, order_id="KF202611020013",
                       payment_purpose="refund")  # fmt: skip
    assert ids(refund) == ["card_1001", "gift_1001"]


async def test_a_changed_payment_offers_no_methods_to_change_to(registry: ActionRegistry) -> None:
    slots: dict[str, Any] = {"user": ZHANG, "order_id": "KF202611200001"}
    changed = await run(registry, "modify_payment", payment_method_id="alipay_1001", **slots)
    assert changed.status == "ok"
    again = await run(registry, "list_payment_methods", payment_purpose="modify_payment", **slots)
    assert again.status == "invalid" and "payment_methods" not in again.data
    # the shop refuses the write as well, for a flow that asks anyway
    refused = await run(registry, "modify_payment", payment_method_id="gift_1001", **slots)
    assert refused.status == "invalid"


async def test_create_ticket(registry: ActionRegistry, shop: FakeOrderService) -> None:
    key = uuid.uuid4().hex
    got = await run(registry, "create_ticket", key=key, user=ZHANG, ticket_category="complaint",
                    ticket_body="快递太慢", order_id="KF202611180002")  # fmt: skip
    assert got.status == "ok" and got.data["category"] == "complaint"
    again = await run(registry, "create_ticket", key=key, user=ZHANG, ticket_category="complaint",
                      ticket_body="快递太慢", order_id="KF202611180002")  # fmt: skip
    assert again.data["ticket_id"] == got.data["ticket_id"]
    tickets = await shop.list_tickets("default", ZHANG)
    assert len(tickets) == 1 and tickets[0].verified and tickets[0].order_id == "KF202611180002"
    anonymous = await run(registry, "create_ticket", ticket_category="human_agent")
    assert anonymous.status == "ok"
    theirs = await run(registry, "create_ticket", user=LI, order_id="KF202611180002")
    assert theirs.status == "forbidden"
