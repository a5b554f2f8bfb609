"""Prometheus metrics, registered on a registry owned by the app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "kefu_chat_turns", "Turns answered", ["tenant", "answer_source", "channel"], registry=r
        )
        self.turn_seconds = Histogram(
            "kefu_chat_turn_seconds",
            "Time to answer one turn, by answer source",
            ["answer_source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "kefu_chat_errors", "Requests refused or failed, by error code", ["code"], registry=r
        )
        self.connections = Gauge("kefu_ws_connections", "Open WebSocket connections", registry=r)
        self.intents = Counter(
            "kefu_nlu_intents", "Recognised intents by stage", ["intent", "stage"], registry=r
        )
        self.stage2 = Counter(
            "kefu_nlu_stage2",
            "Stage-2 (LLM command) decisions: the route taken, or why none was",
            ["outcome"],
            registry=r,
        )
        self.stage2_seconds = Histogram(
            "kefu_nlu_stage2_seconds",
            "Time of a stage-2 decision, model call included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.grounded = Counter(
            "kefu_kb_grounded_answers",
            "Knowledge answers on the LLM path: llm, faq (fast path), none, rejected, error",
            ["outcome"],
            registry=r,
        )
        self.handoffs = Counter(
            "kefu_dialogue_handoffs", "Hand-offs to human agents", ["queue"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
