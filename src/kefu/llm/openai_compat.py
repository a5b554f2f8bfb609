"""`ChatModel` over an OpenAI-compatible server (vLLM, SGLang, Ollama, a cloud API).

One shared HTTP connection pool per model and no retries: fallback and retries belong to
the wrappers. Qwen3 specifics (thinking off, top-k, min-p) travel in `extra_body`.
Messages are sent exactly as given, so the server's prefix cache hits. Prompt text is
never logged: only model, purpose, status and latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from kefu.llm.base import (
    LlmError,
    LlmRejected,
    LlmRequest,
    LlmResponse,
    LlmTimeout,
    LlmUnavailable,
    ToolCall,
    Usage,
)
from kefu.llm.settings import EndpointSettings, LlmSettings

log = logging.getLogger(__name__)

# Set by `kefu.testing.llm_guard`: every new client's base_url must pass it.
_base_url_check: Callable[[str], None] | None = None


def set_base_url_check(check: Callable[[str], None] | None) -> None:
    """Install (None: remove) a check run on the base_url of every new client; it raises
    to refuse the URL."""
    global _base_url_check
    _base_url_check = check


class OpenAICompatChatModel:
    """`ChatModel` for one OpenAI-compatible endpoint."""

    def __init__(self, endpoint: EndpointSettings, settings: LlmSettings) -> None:
        if not endpoint.base_url:
            raise ValueError("OpenAICompatChatModel needs an endpoint with a base_url")
        if _base_url_check is not None:
            _base_url_check(endpoint.base_url)
        self._model = endpoint.model
        self._settings = settings
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                # Few idle connections: httpcore checks every idle one (a poll syscall)
                # each time it places a request, which under load cost more CPU than the
                # rest of the call (measured with bench/llm_path.py and py-spy).
                max_keepalive_connections=min(
                    settings.keepalive_connections, settings.max_connections
                ),
            ),
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
        )
        # openai>=3 types `http_client` as httpx2.AsyncClient and accepts httpx's as well.
        http_client: Any = self._http
        api_key = endpoint.api_key.get_secret_value() if endpoint.api_key else "EMPTY"
        self._client = openai.AsyncOpenAI(
            base_url=endpoint.base_url, api_key=api_key, max_retries=0, http_client=http_client
        )

    @property
    def name(self) -> str:
        return self._model

    async def complete(self, request: LlmRequest) -> LlmResponse:
        started = time.monotonic()
        try:
            with _mapped_errors(self._model, "no answer in time"):
                async with asyncio.timeout(self._timeout_s(request)):
                    completion: ChatCompletion = await self._client.chat.completions.create(
                        **self._body(request), stream=False
                    )
            response = self._response(completion)
        except LlmError as exc:
            self._log(request, started, status=exc.kind, detail=str(exc))
            raise
        self._log(request, started, status="ok")
        return response

    async def stream(self, request: LlmRequest) -> AsyncGenerator[str, None]:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        end = loop.time() + self._timeout_s(request)
        first = min(loop.time() + self._settings.first_token_timeout_s, end)
        chunks: openai.AsyncStream[ChatCompletionChunk] | None = None
        think = _ThinkFilter()
        status, detail, pieces = "closed", "", 0
        try:
            with _mapped_errors(self._model, "no first token in time"):
                async with asyncio.timeout_at(first):
                    chunks = await self._client.chat.completions.create(
                        **self._body(request), stream=True
                    )
            while True:
                with _mapped_errors(self._model, _late(pieces)):
                    async with asyncio.timeout_at(end if pieces else first):
                        chunk = await anext(chunks, None)
                if chunk is None:
                    break
                piece = think.feed(self._delta_text(chunk))
                if piece:
                    pieces += 1
                    yield piece
            if tail := think.flush():
                yield tail
            status = "ok"
        except LlmError as exc:
            status, detail = exc.kind, str(exc)
            raise
        finally:
            if chunks is not None:
                await chunks.close()  # unread body: the connection closes, the server aborts
            self._log(request, started, status=status, detail=detail, pieces=pieces)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _timeout_s(self, request: LlmRequest) -> float:
        return self._settings.timeout_s if request.timeout_s is None else request.timeout_s

    def _body(self, request: LlmRequest) -> dict[str, Any]:
        """Keyword arguments of `chat.completions.create`, apart from `stream`."""
        sampling = self._settings.sampling
        command = request.purpose == "command"
        temperature = request.temperature
        if temperature is None:
            temperature = sampling.command_temperature if command else sampling.temperature
        max_tokens = request.max_tokens
        if max_tokens is None:
            max_tokens = sampling.command_max_tokens if command else sampling.max_tokens
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": temperature,
            "top_p": sampling.top_p,
            "presence_penalty": sampling.presence_penalty,
            "max_tokens": max_tokens,
            "extra_body": {
                "chat_template_kwargs": {"enable_thinking": self._settings.enable_thinking},
                "top_k": sampling.top_k,
                "min_p": sampling.min_p,
            },
        }
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        if request.timeout_s is not None:
            body["timeout"] = request.timeout_s
        return body

    def _response(self, completion: ChatCompletion) -> LlmResponse:
        try:
            choice = completion.choices[0]
            calls = tuple(
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in choice.message.tool_calls or ()
                if c.type == "function"
            )
            usage = completion.usage
            return LlmResponse(
                text=_strip_think(choice.message.content or ""),
                model=self._model,
                tool_calls=calls,
                finish_reason=choice.finish_reason or "stop",
                usage=Usage(
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
                )
                if usage is not None
                else Usage(),
            )
        except (AttributeError, IndexError, TypeError) as exc:
            raise LlmError(f"{self._model}: malformed response") from exc

    def _delta_text(self, chunk: ChatCompletionChunk) -> str:
        try:
            if not chunk.choices:  # e.g. the usage chunk
                return ""
            text = chunk.choices[0].delta.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise LlmError(f"{self._model}: malformed stream chunk") from exc
        if not isinstance(text, str):
            raise LlmError(f"{self._model}: malformed stream chunk")
        return text

    def _log(
        self,
        request: LlmRequest,
        started: float,
        *,
        status: str,
        detail: str = "",
        pieces: int = -1,
    ) -> None:
        latency_ms = (time.monotonic() - started) * 1000
        extra = f" pieces={pieces}" if pieces >= 0 else ""
        if status in ("ok", "closed"):
            log.info(
                "llm.call model=%s purpose=%s status=%s latency_ms=%.0f%s",
                self._model,
                request.purpose,
                status,
                latency_ms,
                extra,
            )
        else:
            log.warning(
                "llm.call model=%s purpose=%s status=%s latency_ms=%.0f%s error=%s",
                self._model,
                request.purpose,
                status,
                latency_ms,
                extra,
                detail,
            )


def _late(pieces: int) -> str:
    return "call took too long" if pieces else "no first token in time"


@contextmanager
def _mapped_errors(model: str, timeout_message: str) -> Iterator[None]:
    """Turns what the SDK and `asyncio.timeout` raise into `LlmError`s."""
    try:
        yield
    except TimeoutError as exc:
        raise LlmTimeout(f"{model}: {timeout_message}") from exc
    except openai.OpenAIError as exc:
        raise _translate(model, exc) from exc
    except ValueError as exc:  # e.g. a stream event that is not JSON
        raise LlmError(f"{model}: malformed response") from exc


def _translate(model: str, exc: openai.OpenAIError) -> LlmError:
    if isinstance(exc, openai.APITimeoutError):
        return LlmTimeout(f"{model}: HTTP timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LlmUnavailable(f"{model}: connection failed ({type(exc.__cause__).__name__})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429 or status >= 500:
            return LlmUnavailable(f"{model}: HTTP {status}")
        if status >= 400:
            return LlmRejected(f"{model}: HTTP {status}")
    return LlmError(f"{model}: {type(exc).__name__}")


_OPEN, _CLOSE = "<think>", "</think>"


class _ThinkFilter:
    """Drops `<think>…</think>` blocks (and the blank space after one) from text that
    arrives in pieces; a tag may be split across pieces."""

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self._trim = False  # just left a block: drop leading whitespace

    def feed(self, text: str) -> str:
        self._buffer += text
        out: list[str] = []
        while (at := self._buffer.find(_CLOSE if self._inside else _OPEN)) >= 0:
            tag = _CLOSE if self._inside else _OPEN
            if not self._inside:
                out.append(self._visible(self._buffer[:at]))
            self._buffer = self._buffer[at + len(tag) :]
            self._inside = not self._inside
            self._trim = self._trim or not self._inside
        keep = _partial_tag(self._buffer, _CLOSE if self._inside else _OPEN)
        if not self._inside:
            out.append(self._visible(self._buffer[: len(self._buffer) - keep]))
        self._buffer = self._buffer[len(self._buffer) - keep :]
        return "".join(out)

    def flush(self) -> str:
        """The held-back rest; an unclosed block is dropped."""
        rest, self._buffer = self._buffer, ""
        return "" if self._inside else self._visible(rest)

    def _visible(self, text: str) -> str:
        if self._trim:
            text = text.lstrip()
            self._trim = not text
        return text


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of `text` that could begin `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def _strip_think(text: str) -> str:
    think = _ThinkFilter()
    return think.feed(text) + think.flush()
