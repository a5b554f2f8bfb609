"""Builds the chat model the app uses from `LlmSettings`: the client and its wrappers."""

from __future__ import annotations

from collections.abc import Callable

from kefu.llm.base import ChatModel
from kefu.llm.metrics import LlmMetrics
from kefu.llm.resilience import (
    CircuitBreakerChatModel,
    ConcurrencyLimitedChatModel,
    FallbackChatModel,
    InstrumentedChatModel,
)
from kefu.llm.settings import EndpointSettings, LlmSettings

ClientFactory = Callable[[EndpointSettings, LlmSettings], ChatModel]


def build_chat_model(settings: LlmSettings, metrics: LlmMetrics) -> ChatModel | None:
    """None when `settings.base_url` is unset. Otherwise, from the outside in: concurrency
    limit, circuit breaker, fallback (when `settings.fallback` is set), and an instrumented
    client per endpoint. A fallback endpoint without `base_url` or `api_key` uses the
    primary's (another model on the same server)."""
    if not settings.enabled:
        return None
    # Imported here: the HTTP client (and the openai SDK) only load when a model is set.
    from kefu.llm.openai_compat import OpenAICompatChatModel

    client: ClientFactory = OpenAICompatChatModel
    model: ChatModel = InstrumentedChatModel(client(settings, settings), metrics)
    if settings.fallback is not None:
        endpoint = settings.fallback.model_copy(
            update={
                "base_url": settings.fallback.base_url or settings.base_url,
                "api_key": settings.fallback.api_key or settings.api_key,
            }
        )
        secondary = InstrumentedChatModel(client(endpoint, settings), metrics)
        model = FallbackChatModel(model, secondary)
    model = CircuitBreakerChatModel(model, settings.breaker, metrics=metrics)
    return ConcurrencyLimitedChatModel(
        model,
        max_concurrency=settings.max_concurrency,
        max_queue=settings.max_queue,
        queue_timeout_s=settings.queue_timeout_s,
        metrics=metrics,
    )
