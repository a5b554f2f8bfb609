"""Wrappers that make a model safe to depend on: metrics, fallback to a second model, a
circuit breaker and a concurrency limit. Each is a `ChatModel` around a `ChatModel`.

Every wrapper closes the inner stream when its own stream ends, fails or is closed early,
so closing the outermost stream cancels the upstream request. Failures are `LlmError`s;
cancellation propagates unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from kefu.llm.base import (
    ChatModel,
    LlmCircuitOpen,
    LlmError,
    LlmOverloaded,
    LlmRejected,
    LlmRequest,
    LlmResponse,
)
from kefu.llm.metrics import BREAKER_STATE_VALUES, LlmMetrics
from kefu.llm.settings import BreakerSettings

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]
_Outcome = Literal["ok", "failed", "neutral"]


@asynccontextmanager
async def _closing(pieces: AsyncIterator[str]) -> AsyncIterator[AsyncIterator[str]]:
    """`contextlib.aclosing` for an `AsyncIterator` (the Protocol's type has no `aclose`;
    the async generators that implement it do)."""
    try:
        yield pieces
    finally:
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            await aclose()


class InstrumentedChatModel:
    """Records the calls of `inner` in `LlmMetrics`. An exception other than `LlmError`
    from `inner` (a bug in a client) is logged and re-raised as an `LlmError`, so the
    dialogue still takes the path without a model."""

    def __init__(self, inner: ChatModel, metrics: LlmMetrics) -> None:
        self._inner = inner
        self._m = metrics

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def inner(self) -> ChatModel:
        return self._inner

    async def complete(self, request: LlmRequest) -> LlmResponse:
        started = time.perf_counter()
        self._m.in_flight.labels(self.name).inc()
        outcome = "cancelled"
        try:
            response = await self._inner.complete(request)
            outcome = "ok"
        except LlmError as exc:
            outcome = "error"
            self._m.errors.labels(self.name, exc.kind).inc()
            raise
        except Exception as exc:
            outcome = "error"
            raise self._client_bug(exc) from exc
        finally:
            self._end(request, outcome, started)
        self._m.tokens.labels(self.name, "prompt").inc(response.usage.prompt_tokens)
        self._m.tokens.labels(self.name, "completion").inc(response.usage.completion_tokens)
        return response

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        started = time.perf_counter()
        self._m.in_flight.labels(self.name).inc()
        outcome = "cancelled"
        count = 0
        try:
            async with _closing(self._inner.stream(request)) as pieces:
                async for piece in pieces:
                    if count == 0:
                        ttft = time.perf_counter() - started
                        self._m.first_token_seconds.labels(self.name).observe(ttft)
                    count += 1
                    yield piece
            outcome = "ok"
        except LlmError as exc:
            outcome = "error"
            self._m.errors.labels(self.name, exc.kind).inc()
            raise
        except Exception as exc:
            outcome = "error"
            raise self._client_bug(exc) from exc
        finally:
            self._m.tokens.labels(self.name, "completion").inc(count)
            self._end(request, outcome, started)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _client_bug(self, exc: Exception) -> LlmError:
        log.error("llm.client_bug model=%s error=%r", self.name, exc, exc_info=exc)
        error = LlmError(f"{type(exc).__name__}: {exc}")
        self._m.errors.labels(self.name, error.kind).inc()
        return error

    def _end(self, request: LlmRequest, outcome: str, started: float) -> None:
        self._m.in_flight.labels(self.name).dec()
        self._m.requests.labels(self.name, request.purpose, outcome).inc()
        elapsed = time.perf_counter() - started
        self._m.request_seconds.labels(self.name, request.purpose).observe(elapsed)


class FallbackChatModel:
    """Asks `secondary` when `primary` fails with one of `fallback_on`.

    The default is any `LlmError`, rejections included: a refusal comes back fast, and the
    second endpoint may be another model or server that accepts what the first refused
    (another context length, another schema support). A stream falls back only when the
    primary fails before its first piece; two models' text is never spliced. Each attempt
    has the request's own time limit. `name` is the primary's.
    """

    def __init__(
        self,
        primary: ChatModel,
        secondary: ChatModel,
        *,
        fallback_on: tuple[type[LlmError], ...] = (LlmError,),
    ) -> None:
        self._primary = primary
        self._secondary = secondary
        self._fallback_on = fallback_on

    @property
    def name(self) -> str:
        return self._primary.name

    @property
    def primary(self) -> ChatModel:
        return self._primary

    @property
    def secondary(self) -> ChatModel:
        return self._secondary

    async def complete(self, request: LlmRequest) -> LlmResponse:
        # The secondary is called inside `except`: its error keeps the primary's as context.
        try:
            return await self._primary.complete(request)
        except self._fallback_on as exc:
            self._log(exc)
            return await self._secondary.complete(request)

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        started = False
        try:
            async with _closing(self._primary.stream(request)) as pieces:
                async for piece in pieces:
                    started = True
                    yield piece
        except self._fallback_on as exc:
            if started:
                raise
            self._log(exc)
            async with _closing(self._secondary.stream(request)) as pieces:
                async for piece in pieces:
                    yield piece

    async def aclose(self) -> None:
        try:
            await self._primary.aclose()
        finally:
            await self._secondary.aclose()

    def _log(self, exc: LlmError) -> None:
        log.warning(
            "llm.fallback model=%s to=%s kind=%s", self.name, self._secondary.name, exc.kind
        )


class CircuitBreakerChatModel:
    """Stops calling `inner` while it fails too often (see `BreakerSettings`).

    Closed: outcomes of the last `window_s` are kept; with at least `min_calls` of them and
    an error share of at least `error_rate` the breaker opens. Open: every call raises
    `LlmCircuitOpen` at once. After `open_s`: half-open, `probe_calls` calls go through;
    when all of them succeed the breaker closes, when one fails it opens again.
    `LlmRejected`, `LlmOverloaded`, cancellation and a stream closed before its first piece
    do not count; a stream closed after a piece counts as a success. Outcomes of calls
    admitted before the last change of state are ignored. One event loop only.
    """

    def __init__(
        self,
        inner: ChatModel,
        settings: BreakerSettings,
        *,
        metrics: LlmMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._s = settings
        self._m = metrics
        self._clock = clock
        self._window: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._failures = 0
        self._state: BreakerState = "closed"
        self._opened_at = 0.0
        self._generation = 0  # bumped on every change of state
        self._probes = 0  # half-open: probes admitted and not settled as neutral
        self._probes_ok = 0
        self._set_state("closed")

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def inner(self) -> ChatModel:
        return self._inner

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self._s.open_s:
            self._set_state("half_open")
        return self._state

    async def complete(self, request: LlmRequest) -> LlmResponse:
        ticket = self._admit()
        try:
            response = await self._inner.complete(request)
        except Exception as exc:
            self._settle(ticket, _classify(exc))
            raise
        except BaseException:
            self._settle(ticket, "neutral")
            raise
        self._settle(ticket, "ok")
        return response

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        ticket = self._admit()
        outcome: _Outcome = "neutral"
        try:
            async with _closing(self._inner.stream(request)) as pieces:
                async for piece in pieces:
                    outcome = "ok"  # the model is answering
                    yield piece
            outcome = "ok"
        except Exception as exc:
            outcome = _classify(exc)
            raise
        finally:
            self._settle(ticket, outcome)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _admit(self) -> tuple[int, bool]:
        """(generation, is a probe) of an admitted call; raises `LlmCircuitOpen`."""
        state = self.state
        if state == "closed":
            return (self._generation, False)
        if state == "half_open" and self._probes < self._s.probe_calls:
            self._probes += 1
            return (self._generation, True)
        if self._m is not None:
            self._m.shed.labels("circuit_open").inc()
        raise LlmCircuitOpen(f"circuit open for {self.name}")

    def _settle(self, ticket: tuple[int, bool], outcome: _Outcome) -> None:
        generation, probe = ticket
        if generation != self._generation:
            return
        if probe:
            if outcome == "failed":
                self._set_state("open")
            elif outcome == "neutral":
                self._probes -= 1
            else:
                self._probes_ok += 1
                if self._probes_ok >= self._s.probe_calls:
                    self._set_state("closed")
            return
        if outcome == "neutral":
            return
        now = self._clock()
        self._window.append((now, outcome == "failed"))
        self._failures += outcome == "failed"
        while self._window and self._window[0][0] <= now - self._s.window_s:
            self._failures -= self._window.popleft()[1]
        calls = len(self._window)
        if calls >= self._s.min_calls and self._failures / calls >= self._s.error_rate:
            log.warning(
                "llm.breaker_opened model=%s calls=%d failures=%d",
                self.name,
                calls,
                self._failures,
            )
            self._set_state("open")

    def _set_state(self, state: BreakerState) -> None:
        if state != self._state:
            log.info("llm.breaker_state model=%s state=%s", self.name, state)
        self._state = state
        self._generation += 1
        self._window.clear()
        self._failures = self._probes = self._probes_ok = 0
        if state == "open":
            self._opened_at = self._clock()
        if self._m is not None:
            self._m.breaker_state.labels(self.name).set(BREAKER_STATE_VALUES[state])


def _classify(exc: Exception) -> _Outcome:
    """Whether an exception says the model is failing (see CircuitBreakerChatModel)."""
    return "neutral" if isinstance(exc, LlmRejected | LlmOverloaded) else "failed"


class ConcurrencyLimitedChatModel:
    """At most `max_concurrency` calls of `inner` at once and `max_queue` waiting for a
    slot. A call that finds the queue full, or waits longer than `queue_timeout_s`, raises
    `LlmOverloaded` (the turn takes the path without a model instead of piling up). A stream
    holds its slot from its first iteration until it ends, fails or is closed."""

    def __init__(
        self,
        inner: ChatModel,
        *,
        max_concurrency: int,
        max_queue: int,
        queue_timeout_s: float,
        metrics: LlmMetrics | None = None,
    ) -> None:
        if max_concurrency < 1 or max_queue < 0 or queue_timeout_s < 0:
            raise ValueError("need max_concurrency >= 1, max_queue >= 0, queue_timeout_s >= 0")
        self._inner = inner
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_queue = max_queue
        self._queue_timeout_s = queue_timeout_s
        self._m = metrics
        self._waiting = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def inner(self) -> ChatModel:
        return self._inner

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot now."""
        return self._waiting

    async def complete(self, request: LlmRequest) -> LlmResponse:
        async with self._slot():
            return await self._inner.complete(request)

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        async with self._slot(), _closing(self._inner.stream(request)) as pieces:
            async for piece in pieces:
                yield piece

    async def aclose(self) -> None:
        await self._inner.aclose()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._slots.release()

    async def _acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: returns without waiting
            return
        if self._waiting >= self._max_queue or self._queue_timeout_s == 0:
            raise self._shed("queue full")
        self._waiting += 1
        if self._m is not None:
            self._m.queued.inc()
        try:
            async with asyncio.timeout(self._queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise self._shed(f"no slot within {self._queue_timeout_s}s") from None
        finally:
            self._waiting -= 1
            if self._m is not None:
                self._m.queued.dec()

    def _shed(self, why: str) -> LlmOverloaded:
        log.warning("llm.overloaded model=%s reason=%s", self.name, why)
        if self._m is not None:
            self._m.shed.labels("overloaded").inc()
        return LlmOverloaded(f"{self.name}: {why}")
