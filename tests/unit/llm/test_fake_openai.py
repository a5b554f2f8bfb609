"""The fake OpenAI-compatible server, spoken to over HTTP as any client would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kefu.llm.base import ToolCall
from kefu.testing.fake_openai import (
    FakeOpenAIServer,
    FakeReply,
    FakeStats,
    running_endpoints,
    tokens,
)

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


def events(text: str) -> list[Any]:
    """The `data:` payloads of a server-sent-events body, JSON-decoded except [DONE]."""
    out: list[Any] = []
    for line in text.split("\n"):
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def eventually(srv: FakeOpenAIServer, check: Callable[[FakeStats], bool]) -> FakeStats:
    deadline = time.monotonic() + 3
    while not check(stats := srv.stats()):
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.01)
    return stats


def test_tokens_are_words_or_cjk_characters_and_join_back() -> None:
    text = "Hello  world, 你好！ ok\n"
    assert tokens(text) == ["Hello", "  world,", " 你", "好", "！", " ok", "\n"]
    assert "".join(tokens(text)) == text


def test_whole_answer_in_openai_format() -> None:
    with FakeOpenAIServer() as srv, httpx.Client(base_url=srv.url) as http:
        body = http.post("/chat/completions", json=HELLO).json()
        assert body["object"] == "chat.completion"
        assert body["model"] == "m"
        choice = body["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": "echo: hi there"}
        assert choice["finish_reason"] == "stop"
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
        assert srv.stats().last_body == HELLO


def test_stream_in_openai_chunk_format() -> None:
    request = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with FakeOpenAIServer() as srv, httpx.Client(base_url=srv.url) as http:
        response = http.post("/chat/completions", json=request)
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = events(response.text)
    assert chunks[-1] == "[DONE]"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks[:-1])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:-3]]
    assert texts == ["echo:", " hi", " there"]
    assert chunks[-3]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[-2]["choices"] == []
    assert chunks[-2]["usage"]["completion_tokens"] == 3


def test_no_usage_chunk_unless_asked() -> None:
    with FakeOpenAIServer() as srv, httpx.Client(base_url=srv.url) as http:
        chunks = events(http.post("/chat/completions", json={**HELLO, "stream": True}).text)
    assert all(c == "[DONE]" or c["choices"] for c in chunks)


def test_tool_calls_whole_and_streamed() -> None:
    call = ToolCall(id="call_1", name="order_status", arguments='{"order_id": "A1"}')

    def responder(request: dict[str, Any]) -> FakeReply:
        return FakeReply(tool_calls=(call,))

    function = {"name": "order_status", "arguments": '{"order_id": "A1"}'}
    wire = {"id": "call_1", "type": "function", "function": function}
    with FakeOpenAIServer(responder=responder) as srv, httpx.Client(base_url=srv.url) as http:
        whole = http.post("/chat/completions", json=HELLO).json()["choices"][0]
        chunks = events(http.post("/chat/completions", json={**HELLO, "stream": True}).text)
    assert whole["message"] == {"role": "assistant", "content": None, "tool_calls": [wire]}
    assert whole["finish_reason"] == "tool_calls"
    assert chunks[1]["choices"][0]["delta"] == {"tool_calls": [{"index": 0, **wire}]}
    assert chunks[2]["choices"][0]["finish_reason"] == "tool_calls"


def test_max_tokens_cuts_the_reply() -> None:
    with FakeOpenAIServer(responder=lambda _: "one two three four") as srv:
        body = httpx.post(f"{srv.url}/chat/completions", json={**HELLO, "max_tokens": 2}).json()
    assert body["choices"][0]["message"]["content"] == "one two"
    assert body["choices"][0]["finish_reason"] == "length"


def test_models_and_unknown_route() -> None:
    with FakeOpenAIServer(model="Qwen/Qwen3-8B") as srv, httpx.Client(base_url=srv.url) as http:
        assert [m["id"] for m in http.get("/models").json()["data"]] == ["Qwen/Qwen3-8B"]
        assert http.get("/nothing").status_code == 404


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"model": "m", "messages": []}', b'{"model": "m"}']
)
def test_bad_requests_get_400(body: bytes) -> None:
    with FakeOpenAIServer() as srv:
        response = httpx.post(f"{srv.url}/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestError"


def test_first_token_waits_ttft_then_tokens_are_paced() -> None:
    words = " ".join(f"w{i}" for i in range(10))  # 10 tokens
    with FakeOpenAIServer(responder=lambda _: words, ttft_s=0.15, tokens_per_s=50) as srv:
        started = time.monotonic()
        arrivals: list[float] = []
        request = {**HELLO, "stream": True}
        with httpx.stream("POST", f"{srv.url}/chat/completions", json=request) as response:
            for line in response.iter_lines():
                for event in events(line):
                    if event != "[DONE]" and event["choices"][0]["delta"].get("content"):
                        arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 10
    assert arrivals[0] >= 0.15
    assert arrivals[-1] >= 0.15 + 9 / 50


def test_whole_answer_waits_for_all_tokens() -> None:
    words = " ".join(f"w{i}" for i in range(10))
    with FakeOpenAIServer(responder=lambda _: words, ttft_s=0.1, tokens_per_s=50) as srv:
        started = time.monotonic()
        httpx.post(f"{srv.url}/chat/completions", json=HELLO).raise_for_status()
    assert time.monotonic() - started >= 0.1 + 9 / 50


def test_control_over_http_changes_behaviour_at_run_time() -> None:
    with FakeOpenAIServer() as srv, httpx.Client(base_url=srv.url.removesuffix("/v1")) as http:
        assert http.post("/_control", json={"error_rate": 1}).json()["error_rate"] == 1
        failed = http.post("/v1/chat/completions", json=HELLO)
        assert failed.status_code == 500
        assert failed.json()["error"]["type"] == "InternalServerError"
        http.post("/_control", json={"error_rate": 0}).raise_for_status()
        assert http.post("/v1/chat/completions", json=HELLO).status_code == 200
        assert http.post("/_control", json={"mode": "error"}).status_code == 200
        assert http.post("/v1/chat/completions", json=HELLO).status_code == 500
        stats = http.get("/_stats").json()
    assert (stats["requests"], stats["errors"], stats["completed"]) == (3, 2, 1)
    assert stats["last_body"] == HELLO


@pytest.mark.parametrize("change", [{"error_rate": 2}, {"mode": "sleepy"}, {"speed": 1}])
def test_bad_control_is_refused(change: dict[str, Any]) -> None:
    with FakeOpenAIServer() as srv:
        response = httpx.post(f"{srv.url.removesuffix('/v1')}/_control", json=change)
    assert response.status_code == 400


async def test_beyond_max_concurrency_gets_429() -> None:
    with FakeOpenAIServer(ttft_s=0.3, max_concurrency=1) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            slow = asyncio.create_task(http.post("/chat/completions", json=HELLO))
            await eventually(srv, lambda s: s.in_flight == 1)
            refused = await http.post("/chat/completions", json=HELLO)
            assert refused.status_code == 429
            assert refused.json()["error"]["type"] == "RateLimitError"
            assert (await slow).status_code == 200
        stats = srv.stats()
    assert (stats.throttled, stats.completed, stats.max_in_flight) == (1, 1, 1)


async def test_timeout_mode_holds_the_request_until_the_client_leaves() -> None:
    with FakeOpenAIServer() as srv:
        srv.control(mode="timeout")
        async with httpx.AsyncClient(base_url=srv.url, timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/chat/completions", json=HELLO)
        stats = await eventually(srv, lambda s: s.cancelled == 1)
    assert (stats.in_flight, stats.completed) == (0, 0)


async def test_client_leaving_a_stream_is_counted_as_cancelled() -> None:
    with FakeOpenAIServer(responder=lambda _: "word " * 100, tokens_per_s=20) as srv:
        async with (
            httpx.AsyncClient(base_url=srv.url) as http,
            http.stream("POST", "/chat/completions", json={**HELLO, "stream": True}) as response,
        ):
            async for _ in response.aiter_lines():
                break
        stats = await eventually(srv, lambda s: s.cancelled == 1)
    assert (stats.completed, stats.in_flight) == (0, 0)


def test_refuse_mode_closes_the_connection_without_an_answer() -> None:
    with FakeOpenAIServer() as srv:
        srv.control(mode="refuse")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{srv.url}/chat/completions", json=HELLO)
        assert httpx.get(f"{srv.url.removesuffix('/v1')}/_stats").json()["refused"] == 1
        srv.control(mode="ok")
        assert httpx.post(f"{srv.url}/chat/completions", json=HELLO).status_code == 200


async def test_serves_many_streams_at_once() -> None:
    with FakeOpenAIServer(ttft_s=0.3, tokens_per_s=100) as srv:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=10) as http:

            async def one(i: int) -> str:
                request = {"messages": [{"role": "user", "content": f"n{i}"}], "stream": True}
                response = await http.post("/chat/completions", json=request)
                chunks = events(response.text)[1:-2]
                return "".join(c["choices"][0]["delta"]["content"] for c in chunks)

            replies = await asyncio.gather(*(one(i) for i in range(200)))
        stats = srv.stats()
    assert replies == [f"echo: n{i}" for i in range(200)]
    assert stats.completed == 200
    # Many at once (not one after another); how many depends on how fast this machine's
    # client opens them, so the bound is loose.
    assert stats.max_in_flight >= 50


def test_registers_itself_while_running() -> None:
    srv = FakeOpenAIServer()
    with srv:
        assert srv.endpoint in running_endpoints()
        assert srv.url == f"http://{srv.endpoint}/v1"
    assert srv.endpoint not in running_endpoints()


def test_runs_as_a_process() -> None:
    command = [sys.executable, "-m", "kefu.testing.fake_openai", "--port", "0", "--ttft", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            body = httpx.post(f"{url}/chat/completions", json=HELLO, timeout=5).json()
            assert body["choices"][0]["message"]["content"] == "echo: hi there"
        finally:
            process.terminate()
