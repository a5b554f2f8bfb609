"""Test doubles for the knowledge layer: embedders and a reranker without models."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.embedding import l2_normalize
from kefu.knowledge.model import Candidate
from kefu.knowledge.text import normalize, tokenize
from kefu.nlu.base import Vectors


class FakeEmbedder:
    """Deterministic bag-of-tokens vectors (hashed into `dim` buckets): texts sharing words
    are close, others are not. No model, no thread; counts the texts it embedded."""

    def __init__(self, *, dim: int = 64, name: str = "fake-hash") -> None:
        self.dim = dim
        self._name = name
        self.calls = 0
        self.texts = 0

    @property
    def name(self) -> str:
        return self._name

    def _one(self, text: str) -> Vectors:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in tokenize(text) or [normalize(text)]:
            h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "big")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        if not v.any():
            v[0] = 1.0
        return v

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        self.texts += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.vstack([self._one(t) for t in texts]))


class CountingEmbedder:
    """Wraps an embedder and counts what it embeds (to prove a restart does not re-embed)."""

    def __init__(self, inner: AsyncEmbedder) -> None:
        self.inner = inner
        self.texts = 0

    @property
    def name(self) -> str:
        return self.inner.name

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts += len(texts)
        return await self.inner.embed(texts)


class MemoEmbedder:
    """Remembers vectors by text: a test session embeds each text once."""

    def __init__(self, inner: AsyncEmbedder) -> None:
        self.inner = inner
        self._memo: dict[str, Vectors] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    async def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for t, v in zip(missing, await self.inner.embed(missing), strict=True):
                self._memo[t] = v
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self._memo[t] for t in texts])


class FakeReranker:
    """Scores 1.0 for candidates whose id is in `prefer`, 0.0 otherwise; or fails."""

    def __init__(self, prefer: Sequence[str] = (), *, fail: bool = False) -> None:
        self.prefer = set(prefer)
        self.fail = fail
        self.seen: list[list[str]] = []

    async def rerank(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        from kefu.knowledge.rerank import RerankError

        self.seen.append([c.entry_id for c in candidates])
        if self.fail:
            raise RerankError("fake reranker down")
        return [1.0 if c.entry_id in self.prefer else 0.0 for c in candidates]
