"""Prometheus metrics of the LLM layer, registered on a registry owned by the app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Model calls take from tens of milliseconds (a short command) to many seconds (an answer).
LLM_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 15.0, 30.0)
FIRST_TOKEN_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)

# Values of `breaker_state`.
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class LlmMetrics:
    """Counters, histograms and gauges of model calls, recorded by the wrappers in
    `kefu.llm.resilience`. Label `model` is `ChatModel.name`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "kefu_llm_requests",
            "Model calls by outcome (ok, error, cancelled)",
            ["model", "purpose", "outcome"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "kefu_llm_request_seconds",
            "Time of a whole model call (a stream: until its last piece or its end)",
            ["model", "purpose"],
            buckets=LLM_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token_seconds = Histogram(
            "kefu_llm_first_token_seconds",
            "Time from a streamed call to its first piece",
            ["model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "kefu_llm_tokens",
            "Tokens by kind (prompt, completion); a streamed piece counts as one",
            ["model", "kind"],
            registry=r,
        )
        self.errors = Counter(
            "kefu_llm_errors", "Failed model calls by LlmError.kind", ["model", "kind"], registry=r
        )
        self.breaker_state = Gauge(
            "kefu_llm_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["model"],
            registry=r,
        )
        self.in_flight = Gauge(
            "kefu_llm_in_flight", "Model calls in progress", ["model"], registry=r
        )
        self.queued = Gauge(
            "kefu_llm_queued", "Calls waiting for a slot of the concurrency limit", registry=r
        )
        self.shed = Counter(
            "kefu_llm_shed",
            "Calls refused without calling the model (overloaded, circuit_open)",
            ["reason"],
            registry=r,
        )
