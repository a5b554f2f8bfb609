"""Resilience wrappers: circuit breaker, fallback, concurrency limit, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from kefu.llm.base import (
    ChatMessage,
    ChatModel,
    LlmCircuitOpen,
    LlmError,
    LlmOverloaded,
    LlmRejected,
    LlmRequest,
    LlmTimeout,
    LlmUnavailable,
)
from kefu.llm.metrics import LlmMetrics
from kefu.llm.resilience import (
    CircuitBreakerChatModel,
    ConcurrencyLimitedChatModel,
    FallbackChatModel,
    InstrumentedChatModel,
)
from kefu.llm.settings import BreakerSettings
from kefu.testing.fake_llm import FakeChatModel

REQ = LlmRequest(messages=(ChatMessage(role="user", content="hello there"),), purpose="answer")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(cond: Callable[[], bool]) -> None:
    for _ in range(100):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def collect(model: ChatModel) -> list[str]:
    return [piece async for piece in model.stream(REQ)]


def state(breaker: CircuitBreakerChatModel) -> str:
    """The breaker's state (a function, so mypy does not narrow it between calls)."""
    return breaker.state


def sample(metrics: LlmMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# ---------------------------------------------------------------- circuit breaker

BREAKER = BreakerSettings(error_rate=0.5, window_s=10, min_calls=4, open_s=5, probe_calls=1)


def make_breaker(
    fake: FakeChatModel, settings: BreakerSettings = BREAKER
) -> tuple[CircuitBreakerChatModel, FakeClock, LlmMetrics]:
    clock = FakeClock()
    metrics = LlmMetrics(CollectorRegistry())
    return CircuitBreakerChatModel(fake, settings, metrics=metrics, clock=clock), clock, metrics


async def call(model: ChatModel) -> str:
    """The reply, or the kind of the LlmError."""
    try:
        return (await model.complete(REQ)).text
    except LlmError as exc:
        return exc.kind


async def test_breaker_opens_at_the_threshold_and_stops_calling() -> None:
    fake = FakeChatModel(["ok", "ok", LlmTimeout, "ok", LlmUnavailable, LlmTimeout, "never"])
    breaker, _, metrics = make_breaker(fake)
    for expected in ["ok", "ok", "timeout", "ok", "unavailable"]:
        assert await call(breaker) == expected
        assert state(breaker) == "closed"  # at most 2 of 5 failed: below 50 %
    assert await call(breaker) == "timeout"
    assert state(breaker) == "open"  # 3 of 6
    assert await call(breaker) == "circuit_open"
    assert fake.calls == 6
    assert sample(metrics, "kefu_llm_breaker_state", model="fake-llm") == 2
    assert sample(metrics, "kefu_llm_shed_total", reason="circuit_open") == 1


async def test_breaker_stays_closed_below_min_calls() -> None:
    fake = FakeChatModel([LlmTimeout] * 3 + ["ok"])
    breaker, _, _ = make_breaker(fake)
    assert [await call(breaker) for _ in range(3)] == ["timeout"] * 3
    assert state(breaker) == "closed"
    assert await call(breaker) == "ok"  # 4 calls, 3 failed: opens after this one
    assert state(breaker) == "open"


async def test_rejected_and_overloaded_do_not_count() -> None:
    fake = FakeChatModel([LlmRejected, LlmOverloaded] * 4 + ["ok"])
    breaker, _, _ = make_breaker(fake)
    assert [await call(breaker) for _ in range(8)] == ["rejected", "overloaded"] * 4
    assert state(breaker) == "closed"
    assert await call(breaker) == "ok"


async def test_old_failures_age_out_of_the_window() -> None:
    fake = FakeChatModel([LlmTimeout, LlmTimeout, LlmTimeout, "ok", "ok", "ok"])
    breaker, clock, _ = make_breaker(fake)
    assert [await call(breaker) for _ in range(2)] == ["timeout"] * 2
    clock.now += 10.5  # past window_s
    assert [await call(breaker) for _ in range(4)] == ["timeout", "ok", "ok", "ok"]
    assert state(breaker) == "closed"  # 1 of 4 in the window; 3 of 6 would have opened it


async def test_half_open_probe_success_closes() -> None:
    fake = FakeChatModel([LlmTimeout] * 4 + ["probe", "after"])
    breaker, clock, metrics = make_breaker(fake)
    for _ in range(4):
        await call(breaker)
    assert state(breaker) == "open"
    clock.now += 4.9
    assert await call(breaker) == "circuit_open"
    clock.now += 0.1
    assert state(breaker) == "half_open"
    assert sample(metrics, "kefu_llm_breaker_state", model="fake-llm") == 1
    assert await call(breaker) == "probe"
    assert state(breaker) == "closed"
    assert sample(metrics, "kefu_llm_breaker_state", model="fake-llm") == 0
    assert await call(breaker) == "after"


async def test_half_open_probe_failure_reopens() -> None:
    fake = FakeChatModel([LlmTimeout] * 5 + ["later"])
    breaker, clock, _ = make_breaker(fake)
    for _ in range(4):
        await call(breaker)
    clock.now += 5
    assert await call(breaker) == "timeout"  # the probe
    assert state(breaker) == "open"
    assert await call(breaker) == "circuit_open"
    assert fake.calls == 5
    clock.now += 5
    assert await call(breaker) == "later"
    assert state(breaker) == "closed"


async def test_half_open_lets_only_probe_calls_through() -> None:
    fake = FakeChatModel([LlmTimeout] * 4 + ["probe"])
    breaker, clock, _ = make_breaker(fake)
    for _ in range(4):
        await call(breaker)
    clock.now += 5
    fake.gate = asyncio.Event()
    probe = asyncio.create_task(call(breaker))
    await until(lambda: fake.in_flight == 1)
    assert await call(breaker) == "circuit_open"
    fake.gate.set()
    assert await probe == "probe"
    assert state(breaker) == "closed"


async def test_breaker_counts_stream_failures_not_early_close() -> None:
    fake = FakeChatModel("a b c")
    breaker, _, _ = make_breaker(fake)
    for _ in range(4):  # closed after a piece: the model was answering
        stream = breaker.stream(REQ)
        assert await anext(stream) == "a "
        await stream.aclose()  # type: ignore[attr-defined]
    assert fake.cancelled == 4
    fake.fail_with = LlmTimeout
    fake.fail_after_pieces = 1
    for _ in range(4):
        with pytest.raises(LlmTimeout):
            await collect(breaker)
    assert state(breaker) == "open"  # 4 of 8 failed
    with pytest.raises(LlmCircuitOpen):
        await collect(breaker)


async def test_outcome_of_a_call_from_before_the_last_change_is_ignored() -> None:
    settings = BreakerSettings(error_rate=1.0, window_s=10, min_calls=1, open_s=5)
    fake = FakeChatModel("ok")
    breaker, clock, _ = make_breaker(fake, settings)
    slow_gate = fake.gate = asyncio.Event()
    slow = asyncio.create_task(call(breaker))  # admitted while closed
    await until(lambda: fake.in_flight == 1)
    fake.gate = None
    fake.fail_with = LlmTimeout
    assert await call(breaker) == "timeout"
    assert state(breaker) == "open"
    clock.now += 5
    assert state(breaker) == "half_open"
    slow_gate.set()
    assert await slow == "timeout"
    assert state(breaker) == "half_open"  # the late failure is not a failed probe
    fake.fail_with = None
    assert await call(breaker) == "ok"
    assert state(breaker) == "closed"


# ---------------------------------------------------------------- fallback


async def test_fallback_on_error_and_timeout() -> None:
    primary = FakeChatModel([LlmUnavailable, LlmTimeout, "primary"], name="big")
    secondary = FakeChatModel("secondary", name="small")
    model = FallbackChatModel(primary, secondary)
    assert model.name == "big"
    assert [await call(model) for _ in range(3)] == ["secondary", "secondary", "primary"]
    assert (primary.calls, secondary.calls) == (3, 2)


async def test_fallback_on_rejection_unless_excluded() -> None:
    primary = FakeChatModel([LlmRejected, LlmRejected], name="big")
    secondary = FakeChatModel("secondary", name="small")
    assert await call(FallbackChatModel(primary, secondary)) == "secondary"
    narrow = FallbackChatModel(primary, secondary, fallback_on=(LlmTimeout, LlmUnavailable))
    assert await call(narrow) == "rejected"
    assert secondary.calls == 1


async def test_fallback_raises_the_secondary_error_when_both_fail() -> None:
    primary = FakeChatModel([LlmUnavailable], name="big")
    secondary = FakeChatModel([LlmTimeout], name="small")
    with pytest.raises(LlmTimeout) as info:
        await FallbackChatModel(primary, secondary).complete(REQ)
    assert isinstance(info.value.__context__, LlmUnavailable)


async def test_stream_falls_back_before_the_first_piece() -> None:
    primary = FakeChatModel([LlmUnavailable], name="big")
    secondary = FakeChatModel("备用 reply", name="small")
    assert await collect(FallbackChatModel(primary, secondary)) == ["备", "用 ", "reply"]


async def test_stream_raises_the_secondary_error_when_both_fail() -> None:
    primary = FakeChatModel([LlmUnavailable], name="big")
    secondary = FakeChatModel([LlmRejected], name="small")
    with pytest.raises(LlmRejected):
        await collect(FallbackChatModel(primary, secondary))
    assert (primary.calls, secondary.calls) == (1, 1)


async def test_stream_never_falls_back_mid_stream() -> None:
    primary = FakeChatModel("one two three", name="big")
    primary.fail_with = LlmTimeout
    primary.fail_after_pieces = 1
    secondary = FakeChatModel("secondary", name="small")
    got: list[str] = []
    with pytest.raises(LlmTimeout):
        async for piece in FallbackChatModel(primary, secondary).stream(REQ):
            got.append(piece)
    assert got == ["one "]
    assert secondary.calls == 0


# ---------------------------------------------------------------- concurrency limit


def limited(
    fake: FakeChatModel, *, max_queue: int = 1, queue_timeout_s: float = 5.0
) -> tuple[ConcurrencyLimitedChatModel, LlmMetrics]:
    metrics = LlmMetrics(CollectorRegistry())
    model = ConcurrencyLimitedChatModel(
        fake,
        max_concurrency=1,
        max_queue=max_queue,
        queue_timeout_s=queue_timeout_s,
        metrics=metrics,
    )
    return model, metrics


async def test_queue_full_raises_overloaded_at_once() -> None:
    fake = FakeChatModel("ok")
    fake.gate = asyncio.Event()
    model, metrics = limited(fake, max_queue=1)
    running = asyncio.create_task(model.complete(REQ))
    waiting = asyncio.create_task(model.complete(REQ))
    await until(lambda: fake.in_flight == 1 and model.waiting == 1)
    assert sample(metrics, "kefu_llm_queued") == 1
    async with asyncio.timeout(1):
        with pytest.raises(LlmOverloaded):
            await model.complete(REQ)
    assert sample(metrics, "kefu_llm_shed_total", reason="overloaded") == 1
    fake.gate.set()
    assert [(await running).text, (await waiting).text] == ["ok", "ok"]
    assert fake.max_in_flight == 1
    assert sample(metrics, "kefu_llm_queued") == 0


async def test_queue_timeout_raises_overloaded() -> None:
    fake = FakeChatModel("ok")
    fake.gate = asyncio.Event()
    model, _ = limited(fake, queue_timeout_s=0.01)
    running = asyncio.create_task(model.complete(REQ))
    await until(lambda: fake.in_flight == 1)
    with pytest.raises(LlmOverloaded, match="no slot"):
        await model.complete(REQ)
    assert model.waiting == 0
    fake.gate.set()
    assert (await running).text == "ok"
    assert (await model.complete(REQ)).text == "ok"  # the slot was not leaked


async def test_cancelled_waiter_propagates_cancellation_and_leaves_the_queue() -> None:
    fake = FakeChatModel("ok")
    fake.gate = asyncio.Event()
    model, _ = limited(fake)
    running = asyncio.create_task(model.complete(REQ))
    waiting = asyncio.create_task(model.complete(REQ))
    await until(lambda: model.waiting == 1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert model.waiting == 0
    fake.gate.set()
    await running
    assert fake.calls == 1


async def test_stream_holds_its_slot_until_closed_early() -> None:
    fake = FakeChatModel("a b c")
    model, _ = limited(fake, max_queue=0)
    stream = model.stream(REQ)
    assert await anext(stream) == "a "
    with pytest.raises(LlmOverloaded):
        await model.complete(REQ)
    await stream.aclose()  # type: ignore[attr-defined]
    assert fake.cancelled == 1
    assert (await model.complete(REQ)).text == "a b c"


async def test_slot_released_when_a_call_or_stream_fails() -> None:
    fake = FakeChatModel("a b c")
    model, _ = limited(fake, max_queue=0)
    fake.fail_with = LlmUnavailable
    with pytest.raises(LlmUnavailable):
        await model.complete(REQ)
    fake.fail_after_pieces = 2
    with pytest.raises(LlmUnavailable):
        await collect(model)
    fake.fail_with = None
    assert await collect(model) == ["a ", "b ", "c"]


def test_limit_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        ConcurrencyLimitedChatModel(
            FakeChatModel(), max_concurrency=0, max_queue=1, queue_timeout_s=1
        )


# ---------------------------------------------------------------- metrics


async def test_instrumented_complete_records_outcomes_and_tokens() -> None:
    metrics = LlmMetrics(CollectorRegistry())
    fake = FakeChatModel(["two words", LlmTimeout])
    model = InstrumentedChatModel(fake, metrics)
    assert model.name == "fake-llm"
    await model.complete(REQ)
    with pytest.raises(LlmTimeout):
        await model.complete(REQ)
    m = {"model": "fake-llm"}
    assert sample(metrics, "kefu_llm_requests_total", **m, purpose="answer", outcome="ok") == 1
    assert sample(metrics, "kefu_llm_requests_total", **m, purpose="answer", outcome="error") == 1
    assert sample(metrics, "kefu_llm_errors_total", **m, kind="timeout") == 1
    assert sample(metrics, "kefu_llm_tokens_total", **m, kind="prompt") == 2
    assert sample(metrics, "kefu_llm_tokens_total", **m, kind="completion") == 2
    assert sample(metrics, "kefu_llm_request_seconds_count", **m, purpose="answer") == 2
    assert sample(metrics, "kefu_llm_in_flight", **m) == 0


async def test_instrumented_stream_records_first_token_and_pieces() -> None:
    metrics = LlmMetrics(CollectorRegistry())
    fake = FakeChatModel("一二三四")
    model = InstrumentedChatModel(fake, metrics)
    assert await collect(model) == ["一", "二", "三", "四"]
    stream = model.stream(REQ)
    await anext(stream)
    assert sample(metrics, "kefu_llm_in_flight", model="fake-llm") == 1
    await stream.aclose()  # type: ignore[attr-defined]
    m = {"model": "fake-llm"}
    assert sample(metrics, "kefu_llm_first_token_seconds_count", **m) == 2
    assert sample(metrics, "kefu_llm_tokens_total", **m, kind="completion") == 5
    assert sample(metrics, "kefu_llm_requests_total", **m, purpose="answer", outcome="ok") == 1
    assert (
        sample(metrics, "kefu_llm_requests_total", **m, purpose="answer", outcome="cancelled") == 1
    )
    assert sample(metrics, "kefu_llm_in_flight", **m) == 0
    assert fake.cancelled == 1


async def test_instrumented_turns_a_client_bug_into_llm_error() -> None:
    def broken(request: LlmRequest) -> str:
        raise KeyError("choices")

    metrics = LlmMetrics(CollectorRegistry())
    model = InstrumentedChatModel(FakeChatModel(broken), metrics)
    with pytest.raises(LlmError) as info:
        await model.complete(REQ)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(LlmError):
        await collect(model)
    assert sample(metrics, "kefu_llm_errors_total", model="fake-llm", kind="error") == 2


# ---------------------------------------------------------------- the whole stack


def stack(primary: FakeChatModel, secondary: FakeChatModel) -> tuple[ChatModel, LlmMetrics]:
    metrics = LlmMetrics(CollectorRegistry())
    inner = FallbackChatModel(
        InstrumentedChatModel(primary, metrics), InstrumentedChatModel(secondary, metrics)
    )
    breaker = CircuitBreakerChatModel(inner, BREAKER, metrics=metrics)
    model = ConcurrencyLimitedChatModel(
        breaker, max_concurrency=1, max_queue=0, queue_timeout_s=1, metrics=metrics
    )
    return model, metrics


async def test_early_close_through_the_stack_closes_the_model_stream() -> None:
    primary = FakeChatModel("one two three", name="big")
    model, metrics = stack(primary, FakeChatModel(name="small"))
    stream = model.stream(REQ)
    assert await anext(stream) == "one "
    await stream.aclose()  # type: ignore[attr-defined]
    assert primary.cancelled == 1
    assert primary.in_flight == 0
    assert sample(metrics, "kefu_llm_in_flight", model="big") == 0
    assert await collect(model) == ["one ", "two ", "three"]  # slot free, breaker closed


async def test_cancelled_task_through_the_stack_cancels_the_model_stream() -> None:
    primary = FakeChatModel("one two", name="big", piece_delay_s=60)
    model, _ = stack(primary, FakeChatModel(name="small"))
    task = asyncio.create_task(collect(model))
    await until(lambda: primary.in_flight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert primary.cancelled == 1
    assert (await model.complete(REQ)).text == "one two"
