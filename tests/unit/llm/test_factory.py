"""build_chat_model: no model without a base URL; otherwise the wrappers in order."""

from __future__ import annotations

import sys
import types

import pytest
from prometheus_client import CollectorRegistry

from kefu.llm.base import (
    ChatMessage,
    LlmCircuitOpen,
    LlmOverloaded,
    LlmRequest,
    LlmTimeout,
    LlmUnavailable,
)
from kefu.llm.factory import build_chat_model
from kefu.llm.metrics import LlmMetrics
from kefu.llm.resilience import (
    CircuitBreakerChatModel,
    ConcurrencyLimitedChatModel,
    FallbackChatModel,
    InstrumentedChatModel,
)
from kefu.llm.settings import BreakerSettings, EndpointSettings, LlmSettings
from kefu.testing.fake_llm import FakeChatModel

REQ = LlmRequest(messages=(ChatMessage(role="user", content="hi"),), purpose="command")


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeChatModel]:
    """Stands in for kefu.llm.openai_compat: one FakeChatModel per endpoint URL."""
    made: dict[str, FakeChatModel] = {}

    def fake_client(endpoint: EndpointSettings, settings: LlmSettings) -> FakeChatModel:
        assert isinstance(settings, LlmSettings)
        made[f"{endpoint.base_url} {endpoint.model}"] = fake = FakeChatModel(
            f"from {endpoint.model}", name=endpoint.model
        )
        return fake

    module = types.ModuleType("kefu.llm.openai_compat")
    module.OpenAICompatChatModel = fake_client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kefu.llm.openai_compat", module)
    return made


def sample(metrics: LlmMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_no_model_without_base_url() -> None:
    assert build_chat_model(LlmSettings(), LlmMetrics(CollectorRegistry())) is None


async def test_single_endpoint_stack(clients: dict[str, FakeChatModel]) -> None:
    metrics = LlmMetrics(CollectorRegistry())
    settings = LlmSettings(base_url="http://vllm:8000/v1", model="big")
    model = build_chat_model(settings, metrics)
    assert isinstance(model, ConcurrencyLimitedChatModel)
    assert model.name == "big"
    assert (await model.complete(REQ)).text == "from big"
    assert list(clients) == ["http://vllm:8000/v1 big"]
    labels = {"model": "big", "purpose": "command", "outcome": "ok"}
    assert sample(metrics, "kefu_llm_requests_total", **labels) == 1


def test_stack_order_with_fallback(clients: dict[str, FakeChatModel]) -> None:
    settings = LlmSettings(
        base_url="http://vllm:8000/v1",
        model="big",
        api_key="k1",
        fallback=EndpointSettings(model="small"),
        max_concurrency=3,
        max_queue=7,
    )
    model = build_chat_model(settings, LlmMetrics(CollectorRegistry()))
    assert isinstance(model, ConcurrencyLimitedChatModel)
    breaker = model.inner
    assert isinstance(breaker, CircuitBreakerChatModel)
    fallback = breaker.inner
    assert isinstance(fallback, FallbackChatModel)
    assert isinstance(fallback.primary, InstrumentedChatModel)
    assert isinstance(fallback.secondary, InstrumentedChatModel)
    # The fallback endpoint without a URL is another model on the primary's server.
    assert fallback.primary.inner is clients["http://vllm:8000/v1 big"]
    assert fallback.secondary.inner is clients["http://vllm:8000/v1 small"]
    assert model.name == "big"


def test_fallback_endpoint_keeps_its_own_url() -> None:
    made: list[EndpointSettings] = []

    def client(endpoint: EndpointSettings, settings: LlmSettings) -> FakeChatModel:
        made.append(endpoint)
        return FakeChatModel(name=endpoint.model)

    module = types.ModuleType("kefu.llm.openai_compat")
    module.OpenAICompatChatModel = client  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "kefu.llm.openai_compat", module)
        fallback = EndpointSettings(base_url="http://cloud/v1", model="small", api_key="k2")
        settings = LlmSettings(base_url="http://vllm:8000/v1", api_key="k1", fallback=fallback)
        build_chat_model(settings, LlmMetrics(CollectorRegistry()))
    assert [e.base_url for e in made] == ["http://vllm:8000/v1", "http://cloud/v1"]
    assert [e.api_key.get_secret_value() for e in made if e.api_key] == ["k1", "k2"]


async def test_fallback_and_breaker_behave_in_the_stack(
    clients: dict[str, FakeChatModel],
) -> None:
    metrics = LlmMetrics(CollectorRegistry())
    settings = LlmSettings(
        base_url="http://vllm:8000/v1",
        model="big",
        fallback=EndpointSettings(model="small"),
        breaker=BreakerSettings(error_rate=0.5, min_calls=3),
    )
    model = build_chat_model(settings, metrics)
    assert model is not None
    primary = clients["http://vllm:8000/v1 big"]
    secondary = clients["http://vllm:8000/v1 small"]

    primary.fail_with = LlmUnavailable
    assert (await model.complete(REQ)).text == "from small"
    assert sample(metrics, "kefu_llm_errors_total", model="big", kind="unavailable") == 1
    labels = {"model": "small", "purpose": "command", "outcome": "ok"}
    assert sample(metrics, "kefu_llm_requests_total", **labels) == 1

    # The breaker sees the fallback's outcome: 2 of 3 failed (both endpoints) opens it.
    secondary.fail_with = LlmTimeout
    for _ in range(2):
        with pytest.raises(LlmTimeout):
            await model.complete(REQ)
    with pytest.raises(LlmCircuitOpen):
        await model.complete(REQ)
    assert primary.calls == 3
    assert sample(metrics, "kefu_llm_breaker_state", model="big") == 2


async def test_early_close_through_the_built_stack(clients: dict[str, FakeChatModel]) -> None:
    metrics = LlmMetrics(CollectorRegistry())
    settings = LlmSettings(base_url="http://vllm:8000/v1", model="big", max_concurrency=1)
    settings = settings.model_copy(update={"max_queue": 0})
    model = build_chat_model(settings, metrics)
    assert model is not None
    stream = model.stream(REQ)
    assert await anext(stream) == "from "
    with pytest.raises(LlmOverloaded):
        await model.complete(REQ)
    await stream.aclose()  # type: ignore[attr-defined]
    assert clients["http://vllm:8000/v1 big"].cancelled == 1
    assert (await model.complete(REQ)).text == "from big"
