"""The web chat page in headless Chromium against a real `kefu serve` process."""

from __future__ import annotations

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
