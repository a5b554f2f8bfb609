"""The contract every chat model meets, and what flows through it.

A `ChatModel` takes an `LlmRequest` (messages, sampling, an optional JSON schema for
structured output, optional tools) and either completes it (`complete`) or streams the text
as it is written (`stream`). Wrappers (fallback, circuit breaker, concurrency limit,
metrics) are `ChatModel`s around a `ChatModel`, so they stack in any order.

Errors are `LlmError`s: the dialogue manager catches exactly these and takes the path that
needs no model (stage-1 result, extractive answer, a human).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from kefu.domain.types import JsonValue

Role = Literal["system", "user", "assistant", "tool"]
# What a call is for: a metrics label and a log field, never free text.
Purpose = Literal["command", "answer", "guard", "other"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A function the model may call (OpenAI `tools` format). kefu only offers read-only
    ones: a writing action never runs on the model's word."""

    name: str
    description: str
    parameters: dict[str, JsonValue]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text as the model wrote it; the caller validates it


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmRequest:
    messages: tuple[ChatMessage, ...]
    purpose: Purpose = "other"
    # None: the client's defaults from settings.
    max_tokens: int | None = None
    temperature: float | None = None
    # Structured output: the reply is JSON matching this schema (`response_format`
    # json_schema, which vLLM enforces with guided decoding).
    json_schema: dict[str, JsonValue] | None = None
    schema_name: str = "reply"
    tools: tuple[ToolSpec, ...] = ()
    # Whole-call time limit; None: the client's default.
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmResponse:
    text: str
    model: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)


class LlmError(Exception):
    """A model call that did not give a usable answer. `kind` is a metrics label."""

    kind: str = "error"


class LlmTimeout(LlmError):
    kind = "timeout"


class LlmUnavailable(LlmError):
    """Connection refused, 5xx, 429: the server is there but cannot serve now, or is not."""

    kind = "unavailable"


class LlmRejected(LlmError):
    """The server refused the request itself (4xx other than 429): retrying will not help."""

    kind = "rejected"


class LlmOverloaded(LlmError):
    """kefu's own concurrency limit is full: the turn takes the path without a model."""

    kind = "overloaded"


class LlmCircuitOpen(LlmError):
    """The circuit breaker is open: the model failed too often recently."""

    kind = "circuit_open"


class ChatModel(Protocol):
    """One model endpoint, or a wrapper around one."""

    @property
    def name(self) -> str:
        """The model's name, as a metrics label (e.g. `Qwen/Qwen3-8B`)."""
        ...

    async def complete(self, request: LlmRequest) -> LlmResponse:
        """The whole reply. Raises `LlmError`."""
        ...

    def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        """The reply's text in pieces as the model writes it. Raises `LlmError` (before
        the first piece or in the middle). Closing the iterator early (`aclose()`, or a
        cancelled task) cancels the upstream request."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# A scripted model: the reply text for a request (used by the fakes in kefu.testing).
Responder = Callable[[LlmRequest], str]


async def close_stream(stream: AsyncIterator[str]) -> None:
    """Close a `ChatModel.stream` iterator (an async generator) now, not at garbage
    collection, so the upstream request ends when the reader stops."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
