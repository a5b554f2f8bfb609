"""A fake OpenAI-compatible chat server over real HTTP, for tests and benchmarks.

In a test: `with FakeOpenAIServer(responder=...) as srv:` and point a client at `srv.url`;
it serves from a background thread with its own event loop. In its own process:
`python -m kefu.testing.fake_openai --port 8001 --ttft 0.3 --tps 40` (prints the URL).

Routes: `POST /v1/chat/completions` (whole, or streamed as server-sent events),
`GET /v1/models`, `POST /_control` (change behaviour at run time, see `FakeControl`) and
`GET /_stats` (see `FakeStats`). A token is one word or one CJK character of the reply.
Plain HTTP/1.1 on asyncio streams: keep-alive, no pipelining, no TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import dataclasses
import importlib
import logging
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Self, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from kefu.llm.base import ToolCall

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen3-8B"
# ok; error: every chat request gets a 500; timeout: accepted, never answered;
# refuse: the connection is closed without an answer; malformed: 200 with a broken body.
Mode = Literal["ok", "error", "timeout", "refuse", "malformed"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeReply:
    """What the fake model answers: text, then tool calls."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


# Gets the request JSON exactly as sent (a test double may look at the wire format).
FakeResponder = Callable[[dict[str, Any]], str | FakeReply]


def echo(request: dict[str, Any]) -> str:
    """The default responder: a short echo of the last user message."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return f"echo: {content[:200]}" if isinstance(content, str) else "echo"
    return "echo"


class FakeControl(BaseModel):
    """A change of behaviour (`POST /_control`); unset fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    error_rate: float | None = Field(default=None, ge=0, le=1)  # share of 500s
    ttft_s: float | None = Field(default=None, ge=0)  # wait before the first token
    tokens_per_s: float | None = Field(default=None, ge=0)  # 0: no pacing
    max_concurrency: int | None = Field(default=None, ge=0)  # beyond it: 429; 0: no limit


@dataclass(slots=True, kw_only=True)
class FakeStats:
    """What the server saw of chat requests. `cancelled`: answers cut short because the
    client left."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    completed: int = 0
    cancelled: int = 0
    errors: int = 0  # 500s
    throttled: int = 0  # 429s
    refused: int = 0
    last_body: dict[str, Any] | None = None


_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)|\s+")


def tokens(text: str) -> list[str]:
    """The fake's tokens: a word (with the space before it) or one CJK character."""
    return _TOKEN.findall(text)


class _BadRequest(Exception):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    method: str
    path: str
    body: bytes
    keep_alive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    """One reply in the OpenAI wire format, whole or as stream chunks."""

    model: str
    tokens: list[str]
    tool_calls: tuple[ToolCall, ...]
    finish: str
    prompt_tokens: int
    id: str = dataclasses.field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def usage(self) -> dict[str, int]:
        done = len(self.tokens)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": done,
            "total_tokens": self.prompt_tokens + done,
        }

    def whole(self) -> dict[str, Any]:
        text = "".join(self.tokens)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if self.tool_calls:
            message["tool_calls"] = [_tool_call(c) for c in self.tool_calls]
        elif not text:
            message["content"] = ""
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish}
        return {**self.head("chat.completion"), "choices": [choice], "usage": self.usage()}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self.head("chat.completion.chunk"), "choices": [choice]}


def _tool_call(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    return out if index is None else {"index": index, **out}


def _error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"object": "error", "error": {"message": message, "type": kind, "code": status}}


class _Pace:
    """Token `i` is due `ttft_s + i / tokens_per_s` after the request started."""

    def __init__(self, ttft_s: float, tokens_per_s: float) -> None:
        self._start = asyncio.get_running_loop().time() + ttft_s
        self._step = 1 / tokens_per_s if tokens_per_s > 0 else 0.0

    async def until(self, index: int) -> None:
        delay = self._start + index * self._step - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)


class _FakeCore:
    """The routes and their state; lives on one event loop."""

    def __init__(self, *, responder: FakeResponder, model: str, behaviour: FakeControl) -> None:
        self.responder = responder
        self.model = model
        self.behaviour = FakeControl(
            mode="ok", error_rate=0, ttft_s=0, tokens_per_s=0, max_concurrency=0
        )
        self.apply(behaviour)
        self.stats = FakeStats()
        # (tag, seconds) of each completed chat request whose messages carry a `[ref:TAG]`
        # mark: a benchmark subtracts the model's own time from its turn latencies.
        self.timings: collections.deque[tuple[str, float]] = collections.deque(maxlen=200_000)
        self._writers: set[asyncio.StreamWriter] = set()

    def apply(self, change: FakeControl) -> FakeControl:
        self.behaviour = self.behaviour.model_copy(update=change.model_dump(exclude_none=True))
        return self.behaviour

    def snapshot(self) -> FakeStats:
        return dataclasses.replace(self.stats, last_body=copy.deepcopy(self.stats.last_body))

    def abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: requests one after another until either side closes it."""
        self._writers.add(writer)
        try:
            while (request := await _read_request(reader)) is not None:
                await self._route(request, reader, writer)
                if not request.keep_alive or writer.transport.is_closing():
                    break
        except _BadRequest as exc:
            await _send_json(writer, 400, _error(400, "BadRequestError", str(exc)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("fake_openai.connection_failed")
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _route(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        match request.method, request.path:
            case "POST", "/v1/chat/completions":
                await self._chat(request, reader, writer)
            case "GET", "/v1/models":
                model = {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}
                await _send_json(writer, 200, {"object": "list", "data": [model]})
            case "POST", "/_control":
                try:
                    change = FakeControl.model_validate_json(request.body or b"{}")
                except ValueError as exc:
                    await _send_json(writer, 400, _error(400, "BadRequestError", str(exc)))
                    return
                await _send_json(writer, 200, self.apply(change).model_dump())
            case "GET", "/_stats":
                await _send_json(writer, 200, dataclasses.asdict(self.stats))
            case "GET", "/_timings":
                await _send_json(writer, 200, {"timings": [list(t) for t in self.timings]})
            case _:
                await _send_json(writer, 404, _error(404, "NotFoundError", "no such route"))

    async def _chat(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        stats, behaviour = self.stats, self.behaviour
        started = time.perf_counter()
        stats.requests += 1
        try:
            payload = _chat_payload(request.body)
        except _BadRequest as exc:
            await _send_json(writer, 400, _error(400, "BadRequestError", str(exc)))
            return
        stats.last_body = payload
        if behaviour.mode == "refuse":
            stats.refused += 1
            writer.transport.abort()
            return
        if behaviour.max_concurrency and stats.in_flight >= behaviour.max_concurrency:
            stats.throttled += 1
            await _send_json(writer, 429, _error(429, "RateLimitError", "too many requests"))
            return
        if behaviour.mode == "error" or random.random() < (behaviour.error_rate or 0):
            stats.errors += 1
            await _send_json(writer, 500, _error(500, "InternalServerError", "fake failure"))
            return
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            answered = await _unless_client_leaves(reader, self._answer(payload, writer))
        finally:
            stats.in_flight -= 1
        if answered:
            stats.completed += 1
            tag = _ref_tag(payload)
            if tag is not None:
                self.timings.append((tag, time.perf_counter() - started))
        else:
            stats.cancelled += 1
            writer.transport.abort()

    async def _answer(self, payload: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        behaviour = self.behaviour
        pace = _Pace(behaviour.ttft_s or 0, behaviour.tokens_per_s or 0)
        if behaviour.mode == "timeout":
            await asyncio.Event().wait()
        if behaviour.mode == "malformed":
            await _send_malformed(writer, stream=bool(payload.get("stream")))
            return
        try:
            answer = self._make_answer(payload)
        except Exception:
            log.exception("fake_openai.responder_failed")
            self.stats.errors += 1
            await _send_json(writer, 500, _error(500, "InternalServerError", "responder failed"))
            return
        if payload.get("stream"):
            options = payload.get("stream_options")
            usage = isinstance(options, dict) and bool(options.get("include_usage"))
            await _send_stream(writer, answer, pace, include_usage=usage)
        else:
            await pace.until(max(len(answer.tokens) - 1, 0))
            await _send_json(writer, 200, answer.whole())

    def _make_answer(self, payload: dict[str, Any]) -> _Answer:
        reply = self.responder(payload)
        if isinstance(reply, str):
            reply = FakeReply(text=reply)
        words = tokens(reply.text)
        limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
        finish = "tool_calls" if reply.tool_calls else "stop"
        if isinstance(limit, int) and len(words) > limit:
            words, finish = words[:limit], "length"
        prompt = sum(
            len(tokens(m["content"]))
            for m in payload["messages"]
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        )
        model = payload.get("model")
        return _Answer(
            model=model if isinstance(model, str) else self.model,
            tokens=words,
            tool_calls=reply.tool_calls,
            finish=finish,
            prompt_tokens=prompt,
        )


_REF = re.compile(r"\[ref:([A-Za-z0-9_-]{1,40})\]")


def _ref_tag(payload: dict[str, Any]) -> str | None:
    """The last mark of the last message that has one (earlier marks are history)."""
    for message in reversed(payload.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        found = _REF.findall(content) if isinstance(content, str) else []
        if found:
            return str(found[-1])
    return None


def _chat_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest("the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise _BadRequest("the body is not a JSON object")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("messages must be a non-empty list")
    return payload


async def _unless_client_leaves(
    reader: asyncio.StreamReader, work: Coroutine[Any, Any, None]
) -> bool:
    """Runs `work`; False if the client closed the connection before it was done."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(reader.read(1))  # b"" at EOF; clients do not pipeline
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        gone.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    if task.cancelled():
        return False
    error = task.exception()
    if error is None:
        return True
    if isinstance(error, ConnectionError):
        return False
    raise error


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The next request on the connection; None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("incomplete request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest("request head too large") from exc
    first, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    parts = first.split(" ")
    if len(parts) != 3:
        raise _BadRequest("bad request line")
    method, target, version = parts
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers or not headers.get("content-length", "0").isdigit():
        raise _BadRequest("a request body needs a Content-Length")
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    path = target.split("?", 1)[0]
    return _Request(method=method, path=path, body=body, keep_alive=keep_alive)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    size = "transfer-encoding: chunked" if length is None else f"content-length: {length}"
    return (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: {content_type}\r\n{size}\r\n"
        "cache-control: no-cache\r\n\r\n"
    ).encode()


async def _send_json(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    data = orjson.dumps(body)
    writer.write(_head(status, "application/json", len(data)) + data)
    await writer.drain()


async def _send_event(writer: asyncio.StreamWriter, event: dict[str, Any] | bytes) -> None:
    data = b"data: " + (event if isinstance(event, bytes) else orjson.dumps(event)) + b"\n\n"
    writer.write(b"%x\r\n%b\r\n" % (len(data), data))
    await writer.drain()


async def _send_stream(
    writer: asyncio.StreamWriter, answer: _Answer, pace: _Pace, *, include_usage: bool
) -> None:
    writer.write(_head(200, "text/event-stream; charset=utf-8"))
    await pace.until(0)
    await _send_event(writer, answer.chunk({"role": "assistant", "content": ""}))
    for index, token in enumerate(answer.tokens):
        await pace.until(index)
        await _send_event(writer, answer.chunk({"content": token}))
    for index, call in enumerate(answer.tool_calls):
        await _send_event(writer, answer.chunk({"tool_calls": [_tool_call(call, index)]}))
    await _send_event(writer, answer.chunk({}, finish=answer.finish))
    if include_usage:
        usage = {**answer.head("chat.completion.chunk"), "choices": [], "usage": answer.usage()}
        await _send_event(writer, usage)
    await _send_event(writer, b"[DONE]")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _send_malformed(writer: asyncio.StreamWriter, *, stream: bool) -> None:
    if not stream:
        await _send_json(writer, 200, {"object": "chat.completion", "id": "chatcmpl-broken"})
        return
    writer.write(_head(200, "text/event-stream; charset=utf-8"))
    await _send_event(writer, b"{not json")
    await _send_event(writer, b"[DONE]")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


_running: set[str] = set()
_running_lock = threading.Lock()


def running_endpoints() -> frozenset[str]:
    """`host:port` of every `FakeOpenAIServer` running in this process."""
    with _running_lock:
        return frozenset(_running)


class FakeOpenAIServer:
    """The fake server on a free port (or `port`), served by a background thread with its
    own event loop; a context manager. `url` ends in `/v1`, as clients expect."""

    def __init__(
        self,
        *,
        responder: FakeResponder = echo,
        model: str = DEFAULT_MODEL,
        ttft_s: float = 0.0,
        tokens_per_s: float = 0.0,
        error_rate: float = 0.0,
        max_concurrency: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        behaviour = FakeControl(
            ttft_s=ttft_s,
            tokens_per_s=tokens_per_s,
            error_rate=error_rate,
            max_concurrency=max_concurrency,
        )
        self._core = _FakeCore(responder=responder, model=model, behaviour=behaviour)
        self._host, self._port = host, port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def endpoint(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/v1"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        sock = socket.create_server((self._host, self._port), backlog=2048)
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock, ready),), name=f"fake-openai-{self._port}"
        )
        self._thread.daemon = True
        self._thread.start()
        if not ready.wait(10) or self._stopping is None:
            raise RuntimeError("FakeOpenAIServer did not start")
        with _running_lock:
            _running.add(self.endpoint)
        return self

    def stop(self) -> None:
        """Closes every connection and stops the thread."""
        with _running_lock:
            _running.discard(self.endpoint)
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(
        self,
        *,
        mode: Mode | None = None,
        error_rate: float | None = None,
        ttft_s: float | None = None,
        tokens_per_s: float | None = None,
        max_concurrency: int | None = None,
    ) -> FakeControl:
        """Changes the behaviour of the next requests; returns the whole behaviour."""
        change = FakeControl(
            mode=mode,
            error_rate=error_rate,
            ttft_s=ttft_s,
            tokens_per_s=tokens_per_s,
            max_concurrency=max_concurrency,
        )
        return self._on_loop(lambda: self._core.apply(change))

    def stats(self) -> FakeStats:
        """What the server saw so far (also after `stop()`)."""
        if self._loop is None:
            return self._core.snapshot()
        return self._on_loop(self._core.snapshot)

    def _on_loop(self, action: Callable[[], _T]) -> _T:
        if self._loop is None:
            raise RuntimeError("FakeOpenAIServer is not running")

        async def run() -> _T:
            return action()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._core.handle, sock=sock)
            self._stopping = stopping  # start() reads it as "serving"
        finally:
            ready.set()
        async with server:
            await stopping.wait()
            self._core.abort_all()


def _load_responder(spec: str) -> FakeResponder:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SystemExit(f"--responder {spec!r}: expected module:function")
    responder: FakeResponder = getattr(importlib.import_module(module), name)
    if not callable(responder):
        raise SystemExit(f"--responder {spec!r} is not callable")
    return responder


async def _serve_forever(core: _FakeCore, host: str, port: int) -> None:
    server = await asyncio.start_server(core.handle, host, port, backlog=2048)
    bound = server.sockets[0].getsockname()[1]
    print(f"http://{host}:{bound}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kefu.testing.fake_openai",
        description="Fake OpenAI-compatible chat server; prints its URL, runs until killed.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--ttft", type=float, default=0.3, help="seconds to the first token")
    parser.add_argument("--tps", type=float, default=40.0, help="tokens per second; 0: no pacing")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 500s, 0..1")
    parser.add_argument("--max-concurrency", type=int, default=0, help="beyond it: 429")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--responder", help="module:function returning str or FakeReply")
    args = parser.parse_args(argv)
    behaviour = FakeControl(
        ttft_s=args.ttft,
        tokens_per_s=args.tps,
        error_rate=args.error_rate,
        max_concurrency=args.max_concurrency,
    )
    responder = _load_responder(args.responder) if args.responder else echo
    core = _FakeCore(responder=responder, model=args.model, behaviour=behaviour)
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as r:
        r.run(_serve_forever(core, args.host, args.port))


if __name__ == "__main__":
    main()
