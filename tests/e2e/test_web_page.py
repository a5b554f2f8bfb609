"""The web chat page in headless Chromium against a real `kefu serve` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

SESSION_KEY = "kefu.session_id"


def _send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="输入消息 / Type a message")
    box.fill(text)
    box.press("Enter")


def _stored_session(page: Any) -> str | None:
    sid: str | None = page.evaluate(f"window.localStorage.getItem({SESSION_KEY!r})")
    return sid


def test_order_lookup_then_reload_keeps_the_conversation(
    browser: Any, kefu_server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 414, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.goto(f"{kefu_server}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")

    _send(page, "你好")
    bot = page.locator(".row-bot .bubble")
    expect(bot.last).to_contain_text("您好，我是智能客服小服")
    for label in ("查订单", "查物流", "转人工"):
        expect(page.get_by_role("button", name=label)).to_be_enabled()

    page.get_by_role("button", name="查订单").click()
    user = page.locator(".row-user .bubble")
    expect(user.last).to_have_text("查订单")
    expect(bot.last).to_have_text("请问您要查询的订单号是多少？")
    expect(page.get_by_role("button", name="查物流")).to_be_disabled()

    _send(page, "KF202611180002")
    card = page.locator(".card-order")
    expect(card).to_contain_text("KF202611180002")
    expect(card.locator(".badge")).to_contain_text("已发货")
    expect(card.locator(".item-name")).to_have_text(["保温水杯 500ml", "纯棉圆领T恤"])
    expect(card.locator(".card-total")).to_contain_text("¥287.00")
    session_id = _stored_session(page)
    assert session_id
    page.screenshot(path=str(tmp_path / "before-reload.png"), full_page=True)

    page.reload()
    expect(user).to_have_text(["你好", "查订单", "KF202611180002"])
    expect(bot.filter(has_text="当前状态：已发货")).to_have_count(1)
    expect(page.locator(".notice-divider")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert _stored_session(page) == session_id

    _send(page, "谢谢")
    expect(bot.last).to_contain_text("不客气")
    expect(user.last).to_have_text("谢谢")
    assert _stored_session(page) == session_id
    history = httpx.get(f"{kefu_server}/v1/sessions/{session_id}", timeout=5.0).json()["history"]
    assert [h["text"] for h in history if h["role"] == "user"][-1] == "谢谢"

    shot = tmp_path / "after-reload.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshots: {tmp_path}")
    assert page_errors == []
    context.close()


def _turn(replies: list[dict[str, Any]], cmid: str | None) -> str:
    return json.dumps(
        {
            "type": "reply",
            "session_id": "s-mock",
            "turn": 1,
            "replies": replies,
            "intent": None,
            "flow": None,
            "slots": {},
            "sources": [],
            "answer_source": "flow",
            "handoff": None,
            "client_msg_id": cmid,
        }
    )


MULTI = {
    "type": "options",
    "id": "pick",
    "multi": True,
    "text": "选择商品 / Pick items",
    "options": [
        {"id": f"o{i}", "label": label, "payload": {"item": label}}
        for i, label in enumerate(["Apple", "Banana", "Cherry"])
    ],
}
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def test_multi_choice_escaping_and_queue_with_a_scripted_socket(
    browser: Any, kefu_server: str
) -> None:
    """Frames the demo flows cannot produce yet, from a scripted WebSocket."""
    from playwright.sync_api import expect

    received: list[dict[str, Any]] = []
    sockets: list[Any] = []

    def server(ws: Any) -> None:
        sockets.append(ws)

        def on_message(raw: str) -> None:
            frame = json.loads(raw)
            received.append(frame)
            cmid, text = frame.get("client_msg_id"), frame.get("text")
            if text == "multi":
                ws.send(_turn([MULTI], cmid))
            elif text == "hostile":
                ws.send(
                    _turn(
                        [
                            {"type": "text", "text": HOSTILE},
                            {"type": "card", "kind": "coupon", "data": {"code": HOSTILE}},
                        ],
                        cmid,
                    )
                )
                ws.send(json.dumps({"type": "error", "code": "rate_limited", "message": "x"}))
            else:
                ws.send(_turn([{"type": "text", "text": f"echo {text or frame.get('id')}"}], cmid))

        ws.on_message(on_message)

    context = browser.new_context()
    page = context.new_page()
    page.route_web_socket("**/v1/ws*", server)
    page.goto(f"{kefu_server}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")

    _send(page, "multi")
    confirm = page.get_by_role("button", name="确认 / Confirm")
    expect(confirm).to_be_disabled()
    for label in ("Cherry", "Apple", "Banana", "Banana"):  # Banana ticked, then unticked
        page.get_by_text(label, exact=True).click()
    confirm.click()
    expect(page.locator(".row-user .bubble").last).to_have_text("Cherry、Apple")
    expect(page.locator(".row-bot .bubble").last).to_have_text("echo pick")
    assert received[-1]["type"] == "action"
    assert received[-1]["id"] == "pick"
    assert received[-1]["payload"] == {"selected": [{"item": "Cherry"}, {"item": "Apple"}]}
    expect(page.get_by_role("checkbox")).to_have_count(3)
    for box in page.get_by_role("checkbox").all():
        expect(box).to_be_disabled()

    _send(page, "hostile")
    expect(page.locator(".row-bot .bubble").last).to_have_text(HOSTILE)
    expect(page.locator(".card-table td")).to_have_text(HOSTILE)
    expect(page.locator(".notice-error")).to_contain_text("Too many messages")
    assert page.locator("#messages img").count() == 0
    assert page.evaluate("window.__pwned") is None

    sockets[-1].close()
    expect(page.locator("#conn")).not_to_have_attribute("data-state", "online")
    _send(page, "after the drop")
    expect(page.locator(".row-bot .bubble").last).to_have_text("echo after the drop")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert len(sockets) >= 2
    assert page.evaluate(f"window.localStorage.getItem({SESSION_KEY!r})") == "s-mock"
    context.close()


def test_a_return_in_english_with_checkboxes_and_buttons(
    browser: Any, kefu_server: str, tmp_path: Path
) -> None:
    """A write flow from the page against the built-in demo shop: verify, pick the order,
    tick an item, pick the refund method, confirm; the order then shows the return."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 414, "height": 860}, locale="en-US")
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.goto(f"{kefu_server}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    bot = page.locator(".row-bot .bubble")

    _send(page, "I want to return something")
    expect(bot.last).to_contain_text("verify")
    _send(page, "my email is u1002@example.cn")
    expect(bot.filter(has_text="verified")).to_have_count(1)
    _send(page, "KF202611100003")
    boxes = page.locator(".options").last.locator("input[type=checkbox]")
    expect(boxes.first).to_be_enabled()
    boxes.first.check()
    page.locator(".options").last.locator("button.confirm").click()
    methods = page.locator(".options").last.locator("button.option")
    expect(methods.first).to_be_enabled()
    methods.first.click()
    expect(bot.last).to_contain_text("confirm")
    page.locator(".options").last.get_by_role("button", name="Yes").click()
    expect(bot.filter(has_text="is requested")).to_have_count(1)

    _send(page, "what is the status of order KF202611100003")
    expect(bot.last).to_contain_text("return requested")
    page.screenshot(path=str(tmp_path / "return-en.png"), full_page=True)
    assert page_errors == []
    context.close()
