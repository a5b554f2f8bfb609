"""The answer cache: exact (normalised question) and semantic (cosine with recent answered
questions), per tenant and language, emptied whenever the tenant's KB version changes.
A hit never crosses tenants or languages: they are part of every key."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kefu.knowledge.base import KnowledgeAnswer
from kefu.knowledge.settings import CacheSettings
from kefu.nlu.base import Vectors


@dataclass(slots=True)
class _Bucket:
    version: int
    exact: OrderedDict[str, tuple[KnowledgeAnswer, float]] = field(default_factory=OrderedDict)
    vectors: Vectors | None = None
    answers: list[tuple[KnowledgeAnswer, float] | None] = field(default_factory=list)
    next_slot: int = 0


class AnswerCache:
    def __init__(
        self, settings: CacheSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._s = settings
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, tenant: str, lang: str, version: int) -> _Bucket:
        key = (tenant, lang)
        b = self._buckets.get(key)
        if b is None or b.version != version:
            b = _Bucket(version=version)
            self._buckets[key] = b
        return b

    def _fresh(self, stored: float) -> bool:
        return self._clock() - stored < self._s.ttl_s

    def get_exact(self, tenant: str, lang: str, version: int, norm: str) -> KnowledgeAnswer | None:
        if not self._s.enabled:
            return None
        b = self._bucket(tenant, lang, version)
        hit = b.exact.get(norm)
        if hit is None or not self._fresh(hit[1]):
            return None
        b.exact.move_to_end(norm)
        return hit[0]

    def get_semantic(
        self, tenant: str, lang: str, version: int, vector: Vectors
    ) -> KnowledgeAnswer | None:
        if not (self._s.enabled and self._s.semantic):
            return None
        b = self._bucket(tenant, lang, version)
        if b.vectors is None or not b.answers:
            return None
        sims = b.vectors[: len(b.answers)] @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best = int(np.argmax(sims))
        hit = b.answers[best]
        if sims[best] < self._s.semantic_threshold or hit is None or not self._fresh(hit[1]):
            return None
        return hit[0]

    def put(
        self,
        tenant: str,
        lang: str,
        version: int,
        norm: str,
        answer: KnowledgeAnswer,
        *,
        vector: Vectors | None = None,
    ) -> None:
        """Remember an answer; with `vector`, also for semantic lookups."""
        if not self._s.enabled or self._s.max_entries == 0:
            return
        b = self._bucket(tenant, lang, version)
        now = self._clock()
        b.exact[norm] = (answer, now)
        b.exact.move_to_end(norm)
        while len(b.exact) > self._s.max_entries:
            b.exact.popitem(last=False)
        if vector is not None and self._s.semantic:
            self._put_vector(b, np.asarray(vector, dtype=np.float32).reshape(-1), answer, now)

    def _put_vector(self, b: _Bucket, vec: Vectors, answer: KnowledgeAnswer, now: float) -> None:
        window = self._s.semantic_window
        if b.vectors is None or b.vectors.shape[1] != vec.shape[0]:
            b.vectors = np.zeros((window, vec.shape[0]), dtype=np.float32)
            b.answers, b.next_slot = [], 0
        slot = b.next_slot
        b.vectors[slot] = vec
        if slot < len(b.answers):
            b.answers[slot] = (answer, now)
        else:
            b.answers.append((answer, now))
        b.next_slot = (slot + 1) % window

    def invalidate(self, tenant: str) -> None:
        for key in [k for k in self._buckets if k[0] == tenant]:
            del self._buckets[key]
