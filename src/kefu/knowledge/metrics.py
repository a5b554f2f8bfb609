"""Prometheus metrics of the knowledge layer, on the registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kefu.observability.metrics import LATENCY_BUCKETS, Metrics


class KnowledgeMetrics:
    def __init__(self, registry: CollectorRegistry | Metrics | None = None) -> None:
        if isinstance(registry, Metrics):
            registry = registry.registry
        r = registry or CollectorRegistry()
        self.registry = r
        self.cache_lookups = Counter(
            "kefu_kb_cache_lookups",
            "Answer cache lookups by result (exact, semantic, miss)",
            ["tenant", "result"],
            registry=r,
        )
        self.cache_hit_ratio = Gauge(
            "kefu_kb_cache_hit_ratio",
            "Share of questions answered from the answer cache since start",
            ["tenant"],
            registry=r,
        )
        self.answers = Counter(
            "kefu_kb_answers",
            "Knowledge answers by outcome (faq, kb, clarify, not_found)",
            ["tenant", "outcome"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "kefu_kb_answer_seconds",
            "Time to answer one question from the knowledge base (cache hits included)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._hits: dict[str, tuple[int, int]] = {}

    def cache_result(self, tenant: str, result: str) -> None:
        self.cache_lookups.labels(tenant=tenant, result=result).inc()
        hits, total = self._hits.get(tenant, (0, 0))
        hits, total = hits + (result != "miss"), total + 1
        self._hits[tenant] = (hits, total)
        self.cache_hit_ratio.labels(tenant=tenant).set(hits / total)
