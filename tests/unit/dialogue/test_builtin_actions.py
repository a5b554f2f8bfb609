"""Built-in flow actions: list_find names what an id stands for, for summaries."""

from __future__ import annotations

from typing import Any

from kefu.dialogue.actions import ActionContext, ActionResult, list_find
from kefu.domain.types import JsonValue

METHODS: list[JsonValue] = [
    {"payment_method_id": "alipay_1001", "label": "支付宝"},
    {"payment_method_id": "gift_1001", "label": "礼品卡 (余额 200.00)"},
]
ITEMS: list[JsonValue] = [
    {"item_id": "2002-BLUE", "label": "保温水杯（蓝色） ×2", "unit_label": "保温水杯（蓝色）"},
    {"item_id": "1001-N-M", "label": "纯棉T恤（藏青色，M）", "unit_label": "纯棉T恤（藏青色，M）"},
]


async def find(lang: str = "zh", **params: JsonValue) -> ActionResult:
    slots: dict[str, Any] = {
        "payment_methods": METHODS,
        "items": ITEMS,
        "payment_method_id": "gift_1001",
        "item_ids": ["1001-N-M", "2002-BLUE", "2002-BLUE"],
        "unknown": "card_9",
    }
    ctx = ActionContext(
        session_id="s",
        tenant="t",
        user_id=None,
        user_verified=False,
        lang=lang,
        slots=slots,
        idempotency_key="k",
        params=params,
    )
    return await list_find(ctx)


async def test_one_value_gives_its_entry_and_label() -> None:
    got = await find(list="payment_methods", key="payment_method_id", value="payment_method_id")
    assert got.status == "ok"
    assert got.data["entry"] == METHODS[1]
    assert got.data["text"] == "礼品卡 (余额 200.00)"


async def test_a_list_gives_one_entry_per_value_in_its_order() -> None:
    got = await find(list="items", key="item_id", value="item_ids", show="unit_label")
    assert got.data["labels"] == ["纯棉T恤（藏青色，M）", "保温水杯（蓝色）", "保温水杯（蓝色）"]
    assert got.data["text"] == "纯棉T恤（藏青色，M）、保温水杯（蓝色）、保温水杯（蓝色）"
    en = await find("en", list="items", key="item_id", value="item_ids", show="unit_label")
    assert en.data["text"] == "纯棉T恤（藏青色，M）, 保温水杯（蓝色）, 保温水杯（蓝色）"


async def test_a_value_without_an_entry_is_not_found() -> None:
    got = await find(list="payment_methods", key="payment_method_id", value="unknown")
    assert got.status == "not_found"
    assert got.data["entry"] is None and got.data["text"] == ""
    missing_list = await find(list="nothing", key="payment_method_id", value="payment_method_id")
    assert missing_list.status == "not_found"
