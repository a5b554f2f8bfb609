"""FakeChatModel: scripted replies, stream pieces, faults, records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from kefu.llm.base import (
    ChatMessage,
    ChatModel,
    LlmRejected,
    LlmRequest,
    LlmTimeout,
    LlmUnavailable,
)
from kefu.testing.fake_llm import FakeChatModel, split_pieces


def req(text: str = "我的订单到哪了") -> LlmRequest:
    return LlmRequest(messages=(ChatMessage(role="user", content=text),), purpose="answer")


async def until(cond: Callable[[], bool]) -> None:
    for _ in range(100):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def collect(model: ChatModel, request: LlmRequest) -> list[str]:
    return [piece async for piece in model.stream(request)]


def test_is_a_chat_model() -> None:
    model: ChatModel = FakeChatModel()
    assert model.name == "fake-llm"


async def test_scripted_replies_in_order_then_errors() -> None:
    fake = FakeChatModel(["one", LlmTimeout, LlmRejected("too long"), "four"])
    assert (await fake.complete(req())).text == "one"
    with pytest.raises(LlmTimeout):
        await fake.complete(req())
    with pytest.raises(LlmRejected, match="too long"):
        await fake.complete(req())
    assert await collect(fake, req()) == ["four"]
    with pytest.raises(AssertionError, match="ran out"):
        await fake.complete(req())
    assert fake.calls == 5


async def test_responder_sees_the_request_and_requests_are_recorded() -> None:
    fake = FakeChatModel(lambda r: f"echo {r.messages[-1].content}")
    response = await fake.complete(req("hi"))
    assert response.text == "echo hi"
    assert response.model == "fake-llm"
    assert response.usage.prompt_tokens == 1
    assert response.usage.completion_tokens == 2
    await collect(fake, req("there"))
    assert [r.messages[-1].content for r in fake.requests] == ["hi", "there"]
    assert fake.calls == 2


async def test_stream_pieces_per_word_and_per_cjk_character() -> None:
    fake = FakeChatModel("您好，order shipped")
    pieces = await collect(fake, req())
    assert pieces == ["您", "好", "，", "order ", "shipped"]
    assert "".join(pieces) == "您好，order shipped"
    assert split_pieces("") == []


async def test_custom_split() -> None:
    fake = FakeChatModel("abcdef", split=lambda t: [t[:3], t[3:]])
    assert await collect(fake, req()) == ["abc", "def"]


async def test_fail_with_switches_at_run_time_and_mid_stream() -> None:
    fake = FakeChatModel("a b c")
    assert (await fake.complete(req())).text == "a b c"
    fake.fail_with = LlmUnavailable
    with pytest.raises(LlmUnavailable):
        await fake.complete(req())
    fake.fail_after_pieces = 2
    got: list[str] = []
    with pytest.raises(LlmUnavailable):
        async for piece in fake.stream(req()):
            got.append(piece)
    assert got == ["a ", "b "]
    fake.fail_with = None
    assert await collect(fake, req()) == ["a ", "b ", "c"]
    assert fake.cancelled == 0


async def test_stream_closed_early_counts_as_cancelled() -> None:
    fake = FakeChatModel("one two three")
    stream = fake.stream(req())
    assert await anext(stream) == "one "
    await stream.aclose()  # type: ignore[attr-defined]
    assert fake.cancelled == 1
    assert fake.in_flight == 0
    await collect(fake, req())
    assert fake.cancelled == 1


async def test_gate_holds_calls_and_cancellation_is_counted() -> None:
    fake = FakeChatModel("ok")
    fake.gate = asyncio.Event()
    tasks = [asyncio.create_task(fake.complete(req())) for _ in range(3)]
    await until(lambda: fake.in_flight == 3)
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    fake.gate.set()
    assert [(await t).text for t in tasks[1:]] == ["ok", "ok"]
    assert fake.max_in_flight == 3
    assert fake.cancelled == 1
    assert fake.in_flight == 0


async def test_delays_are_applied() -> None:
    fake = FakeChatModel("a b", delay_s=0.01, piece_delay_s=0.01)
    assert fake.ttft_s == 0.01
    loop = asyncio.get_running_loop()
    start = loop.time()
    await collect(fake, req())
    assert loop.time() - start >= 0.02


async def test_aclose_is_recorded() -> None:
    fake = FakeChatModel()
    await fake.aclose()
    assert fake.closed
