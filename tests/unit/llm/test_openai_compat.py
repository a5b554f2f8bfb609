"""The OpenAI-compatible client against the fake server over real HTTP, and the guard
that keeps tests away from real models."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kefu.llm.base import (
    ChatMessage,
    LlmError,
    LlmRejected,
    LlmRequest,
    LlmTimeout,
    LlmUnavailable,
    ToolCall,
    ToolSpec,
)
from kefu.llm.openai_compat import OpenAICompatChatModel, _ThinkFilter
from kefu.llm.settings import LlmSettings
from kefu.testing import llm_guard
from kefu.testing.fake_openai import FakeOpenAIServer, FakeReply, FakeStats, tokens

SYSTEM = ChatMessage(role="system", content="你是客服。")
ASK = LlmRequest(messages=(SYSTEM, ChatMessage(role="user", content="我的订单到哪了")))


@asynccontextmanager
async def model_for(srv: FakeOpenAIServer, **settings: Any) -> AsyncIterator[OpenAICompatChatModel]:
    config = LlmSettings(base_url=srv.url, **settings)
    model = OpenAICompatChatModel(config, config)
    try:
        yield model
    finally:
        await model.aclose()


async def collect(stream: AsyncIterator[str]) -> list[str]:
    return [piece async for piece in stream]


async def eventually(srv: FakeOpenAIServer, check: Callable[[FakeStats], bool]) -> FakeStats:
    deadline = time.monotonic() + 3
    while not check(stats := srv.stats()):
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.01)
    return stats


async def test_complete_sends_messages_unchanged_and_returns_text_and_usage() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv, model="Qwen/Qwen3-8B") as model:
            response = await model.complete(ASK)
        body = srv.stats().last_body
    assert response.text == "echo: 我的订单到哪了"
    assert (response.model, response.finish_reason) == ("Qwen/Qwen3-8B", "stop")
    assert response.usage.completion_tokens == len(tokens(response.text))
    assert response.usage.prompt_tokens == len(tokens("你是客服。我的订单到哪了"))
    assert body is not None
    assert body["model"] == "Qwen/Qwen3-8B"
    assert body["messages"] == [
        {"role": "system", "content": "你是客服。"},
        {"role": "user", "content": "我的订单到哪了"},
    ]


async def test_qwen3_sampling_for_answers_and_for_commands() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv) as model:
            await model.complete(LlmRequest(messages=ASK.messages, purpose="answer"))
            answer = srv.stats().last_body
            await model.complete(LlmRequest(messages=ASK.messages, purpose="command"))
            command = srv.stats().last_body
            await model.complete(
                LlmRequest(messages=ASK.messages, temperature=1.1, max_tokens=7, purpose="command")
            )
            explicit = srv.stats().last_body
    assert answer is not None and command is not None and explicit is not None
    assert answer["chat_template_kwargs"] == {"enable_thinking": False}
    assert (answer["top_k"], answer["min_p"], answer["top_p"]) == (20, 0.0, 0.8)
    assert (answer["temperature"], answer["max_tokens"]) == (0.7, 512)
    assert (command["temperature"], command["max_tokens"]) == (0.0, 256)
    assert (explicit["temperature"], explicit["max_tokens"]) == (1.1, 7)
    assert "response_format" not in answer and "tools" not in answer


async def test_json_schema_is_passed_as_strict_response_format() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"intent": {"type": "string"}}}
    with FakeOpenAIServer(responder=lambda _: '{"intent": "order_status"}') as srv:
        async with model_for(srv) as model:
            request = LlmRequest(messages=ASK.messages, json_schema=schema, schema_name="cmd")
            response = await model.complete(request)
        body = srv.stats().last_body
    assert json.loads(response.text) == {"intent": "order_status"}
    assert body is not None
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "cmd", "schema": schema, "strict": True},
    }
    assert body["chat_template_kwargs"]["enable_thinking"] is False


async def test_thinking_can_be_turned_on() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv, enable_thinking=True) as model:
            await model.complete(ASK)
        body = srv.stats().last_body
    assert body is not None and body["chat_template_kwargs"] == {"enable_thinking": True}


async def test_tool_calls_come_back_as_tool_calls() -> None:
    call = ToolCall(id="call_7", name="order_status", arguments='{"order_id": "A1"}')
    spec = ToolSpec(
        name="order_status",
        description="Where an order is.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
    )
    with FakeOpenAIServer(responder=lambda _: FakeReply(tool_calls=(call,))) as srv:
        async with model_for(srv) as model:
            response = await model.complete(LlmRequest(messages=ASK.messages, tools=(spec,)))
        body = srv.stats().last_body
    assert response.tool_calls == (call,)
    assert (response.text, response.finish_reason) == ("", "tool_calls")
    assert body is not None and body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "order_status",
                "description": "Where an order is.",
                "parameters": spec.parameters,
            },
        }
    ]


async def test_stream_yields_the_pieces_in_order() -> None:
    text = "您的订单 A1 已发货, arriving tomorrow."
    with FakeOpenAIServer(responder=lambda _: text, tokens_per_s=1000) as srv:
        async with model_for(srv) as model:
            pieces = await collect(model.stream(ASK))
        stats = await eventually(srv, lambda s: s.completed == 1)
    assert pieces == tokens(text)
    assert stats.last_body is not None and stats.last_body["stream"] is True
    assert stats.cancelled == 0


async def test_think_blocks_are_stripped() -> None:
    text = "<think>user wants order</think>\n\n好的，马上查。"
    with FakeOpenAIServer(responder=lambda _: text) as srv:
        async with model_for(srv) as model:
            assert (await model.complete(ASK)).text == "好的，马上查。"
            assert "".join(await collect(model.stream(ASK))) == "好的，马上查。"


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("<think>a</think>\n\nB", "B"),
        ("A<think>x</think> B", "AB"),
        ("A < B, <thin", "A < B, <thin"),
        ("<think>unfinished", ""),
        ("no tags at all", "no tags at all"),
    ],
)
def test_think_filter_handles_tags_split_anywhere(text: str, visible: str) -> None:
    for cuts in itertools.combinations(range(1, len(text)), 2):
        parts = [text[: cuts[0]], text[cuts[0] : cuts[1]], text[cuts[1] :]]
        think = _ThinkFilter()
        assert "".join(think.feed(p) for p in parts) + think.flush() == visible, parts


async def test_no_first_token_in_time_is_a_timeout_and_cancels_upstream() -> None:
    with FakeOpenAIServer(ttft_s=5) as srv:
        async with model_for(srv, first_token_timeout_s=0.2) as model:
            started = time.monotonic()
            with pytest.raises(LlmTimeout):
                await collect(model.stream(ASK))
            assert time.monotonic() - started < 1
            await eventually(srv, lambda s: s.cancelled == 1)


async def test_whole_call_limit_applies_mid_stream() -> None:
    with FakeOpenAIServer(responder=lambda _: "word " * 40, tokens_per_s=20) as srv:
        async with model_for(srv, first_token_timeout_s=1.0) as model:
            pieces: list[str] = []
            with pytest.raises(LlmTimeout):
                async for piece in model.stream(LlmRequest(messages=ASK.messages, timeout_s=0.3)):
                    pieces.append(piece)
            assert 1 <= len(pieces) < 40
            await eventually(srv, lambda s: s.cancelled == 1)


async def test_complete_times_out_on_the_request_limit() -> None:
    with FakeOpenAIServer(ttft_s=5) as srv:
        async with model_for(srv, timeout_s=30) as model:
            started = time.monotonic()
            with pytest.raises(LlmTimeout):
                await model.complete(LlmRequest(messages=ASK.messages, timeout_s=0.2))
            assert time.monotonic() - started < 1
            await eventually(srv, lambda s: s.cancelled == 1)


async def test_a_server_that_never_answers_is_a_timeout() -> None:
    with FakeOpenAIServer() as srv:
        srv.control(mode="timeout")
        async with model_for(srv, timeout_s=0.2) as model:
            with pytest.raises(LlmTimeout):
                await model.complete(ASK)
            with pytest.raises(LlmTimeout):
                await collect(model.stream(ASK))


@pytest.mark.parametrize("mode", ["error", "refuse"])
async def test_server_errors_are_unavailable(mode: Any) -> None:
    with FakeOpenAIServer() as srv:
        srv.control(mode=mode)
        async with model_for(srv) as model:
            with pytest.raises(LlmUnavailable):
                await model.complete(ASK)
            with pytest.raises(LlmUnavailable):
                await collect(model.stream(ASK))


async def test_a_stopped_server_is_unavailable() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv) as model:
            srv.stop()
            with pytest.raises(LlmUnavailable):
                await model.complete(ASK)


async def test_a_bad_request_is_rejected() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv) as model:
            with pytest.raises(LlmRejected):
                await model.complete(LlmRequest(messages=()))
            with pytest.raises(LlmRejected):
                await collect(model.stream(LlmRequest(messages=())))


async def test_over_the_concurrency_limit_is_unavailable() -> None:
    with FakeOpenAIServer(ttft_s=0.3, max_concurrency=1) as srv:
        async with model_for(srv) as model:
            first = asyncio.create_task(model.complete(ASK))
            await eventually(srv, lambda s: s.in_flight == 1)
            with pytest.raises(LlmUnavailable, match="429"):
                await model.complete(ASK)
            assert (await first).text.startswith("echo")


async def test_malformed_answers_are_errors() -> None:
    with FakeOpenAIServer() as srv:
        srv.control(mode="malformed")
        async with model_for(srv) as model:
            with pytest.raises(LlmError) as whole:
                await model.complete(ASK)
            with pytest.raises(LlmError) as streamed:
                await collect(model.stream(ASK))
    assert whole.value.kind == streamed.value.kind == "error"


async def test_error_rate_changes_at_run_time() -> None:
    with FakeOpenAIServer() as srv:
        async with model_for(srv) as model:
            srv.control(error_rate=1)
            with pytest.raises(LlmUnavailable):
                await model.complete(ASK)
            srv.control(error_rate=0)
            assert (await model.complete(ASK)).text.startswith("echo")
    assert (srv.stats().errors, srv.stats().completed) == (1, 1)


async def test_closing_the_stream_early_cancels_the_upstream_request() -> None:
    with FakeOpenAIServer(responder=lambda _: "word " * 200, tokens_per_s=50) as srv:
        async with model_for(srv) as model:
            stream = model.stream(ASK)
            assert await anext(stream)
            await stream.aclose()
            stats = await eventually(srv, lambda s: s.cancelled == 1)
            assert (stats.completed, stats.in_flight) == (0, 0)
            srv.control(tokens_per_s=0)
            assert (await model.complete(ASK)).text.startswith("word")  # the pool still works


async def test_cancelling_the_consumer_cancels_the_upstream_request() -> None:
    with FakeOpenAIServer(responder=lambda _: "word " * 200, tokens_per_s=50) as srv:
        async with model_for(srv) as model:
            started = asyncio.Event()

            async def consume() -> None:
                async for _ in model.stream(ASK):
                    started.set()

            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await eventually(srv, lambda s: s.cancelled == 1)


async def test_200_concurrent_streams_complete() -> None:
    with FakeOpenAIServer(ttft_s=0.3, tokens_per_s=200) as srv:
        async with model_for(srv, max_connections=200) as model:

            async def one(i: int) -> str:
                request = LlmRequest(messages=(ChatMessage(role="user", content=f"n{i}"),))
                return "".join(await collect(model.stream(request)))

            replies = await asyncio.gather(*(one(i) for i in range(200)))
        stats = srv.stats()
    assert replies == [f"echo: n{i}" for i in range(200)]
    assert stats.completed == 200
    assert stats.max_in_flight >= 50  # many at once; how many depends on the machine's load


async def test_prompt_text_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = "手机号13800138000"
    request = LlmRequest(messages=(ChatMessage(role="user", content=secret),))
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(responder=lambda _: "ok") as srv:
        async with model_for(srv) as model:
            await model.complete(request)
            await collect(model.stream(request))
            srv.control(mode="error")
            with pytest.raises(LlmUnavailable):
                await model.complete(request)
    assert "llm.call" in caplog.text
    assert "13800138000" not in caplog.text


def test_the_guard_refuses_anything_but_a_running_fake() -> None:
    for url in ("https://api.openai.com/v1", "http://127.0.0.1:9/v1", "http://vllm:8000/v1"):
        settings = LlmSettings(base_url=url)
        with pytest.raises(RuntimeError, match="llm_guard"):
            OpenAICompatChatModel(settings, settings)
    srv = FakeOpenAIServer()
    with srv:
        settings = LlmSettings(base_url=srv.url)
        OpenAICompatChatModel(settings, settings)  # allowed while it runs
    with pytest.raises(RuntimeError, match="llm_guard"):
        OpenAICompatChatModel(settings, settings)


def test_the_guard_is_what_refuses() -> None:
    settings = LlmSettings(base_url="http://vllm:8000/v1")
    llm_guard.uninstall()
    try:
        OpenAICompatChatModel(settings, settings)
    finally:
        llm_guard.install()
    with pytest.raises(RuntimeError):
        OpenAICompatChatModel(settings, settings)


def test_an_endpoint_without_base_url_is_refused() -> None:
    settings = LlmSettings()
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatChatModel(settings, settings)
