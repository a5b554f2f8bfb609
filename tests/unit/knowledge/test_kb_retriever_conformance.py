"""The in-process retriever passes the shared retriever conformance suite (exact search and
the IVF index used for large partitions)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from kefu.knowledge.dense import DenseIndex
from kefu.knowledge.memory_retriever import InMemoryRetriever
from kefu.testing.retriever_conformance import RetrieverConformance


class TestInMemoryRetriever(RetrieverConformance):
    @pytest.fixture
    async def retriever(self) -> AsyncIterator[InMemoryRetriever]:
        r = InMemoryRetriever()
        await r.start()
        yield r
        await r.close()


def test_ivf_index_finds_the_same_neighbours_as_exact_search() -> None:
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(50, 32)).astype(np.float32)
    vecs = centers[rng.integers(50, size=3000)] + 0.3 * rng.normal(size=(3000, 32))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    exact = DenseIndex(vecs, ivf_min=10_000)
    ivf = DenseIndex(vecs, ivf_min=1000, nprobe=16)
    assert ivf.approximate and not exact.approximate
    hits = 0
    for q in vecs[:50]:
        rows_e, scores_e = exact.search(q, 10)
        rows_i, scores_i = ivf.search(q, 10)
        hits += len(set(rows_e.tolist()) & set(rows_i.tolist()))
        assert rows_i[0] == rows_e[0]
        assert np.allclose(scores_i[0], scores_e[0], atol=1e-5)  # re-scored exactly
    assert hits / 500 > 0.9
    # a rebuilt index of similar size reuses the trained centroids
    again = DenseIndex(vecs[:2500], ivf_min=1000, previous=ivf)
    assert again.approximate
    assert again.search(vecs[0], 1)[0][0] == 0
