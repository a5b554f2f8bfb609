"""Nearest passages by cosine over an immutable matrix of unit vectors: exact (numpy) for
small partitions, an IVF index (faiss, 8-bit codes) with exact re-scoring above a size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from kefu.nlu.base import Vectors

Rows = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]


def top_k(scores: Scores, k: int) -> Rows:
    """Indices of the k best scores, best first."""
    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if k >= scores.size:
        return np.argsort(-scores, kind="stable").astype(np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)


class DenseIndex:
    """Read-only after construction (a new index is built for every change), so searches
    need no lock. `quantizer` reuses the IVF centroids of a previous index of similar size
    (training is the slow part of building)."""

    def __init__(
        self,
        vectors: Vectors,
        *,
        ivf_min: int = 20_000,
        nprobe: int = 24,
        previous: DenseIndex | None = None,
    ) -> None:
        if vectors.ndim != 2:
            raise ValueError("vectors must be a matrix")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._nprobe = nprobe
        self._ivf: Any = None
        self._trained_size = 0
        if len(self.vectors) >= ivf_min:
            self._build_ivf(previous)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def approximate(self) -> bool:
        return self._ivf is not None

    def _build_ivf(self, previous: DenseIndex | None) -> None:
        import faiss

        n, dim = self.vectors.shape
        quantizer = None
        if (
            previous is not None
            and previous._ivf is not None
            and previous.vectors.shape[1] == dim
            and previous._trained_size / 2 <= n <= previous._trained_size * 2
        ):
            quantizer, self._trained_size = previous._ivf.quantizer, previous._trained_size
        nlist = max(16, int(2 * math.sqrt(n)))
        if quantizer is None:
            quantizer = faiss.IndexFlatIP(dim)
            self._trained_size = n
        else:
            nlist = quantizer.ntotal
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        if quantizer.ntotal == 0:
            rng = np.random.default_rng(0)
            sample = self.vectors[rng.choice(n, size=min(n, nlist * 39), replace=False)]
            ivf.cp.niter = 10
            ivf.train(sample)
        else:
            ivf.train(self.vectors[: min(n, 10_000)])  # codes only; centroids are kept
        ivf.add(self.vectors)
        ivf.nprobe = min(self._nprobe, nlist)
        self._ivf = ivf

    def search(self, query: Vectors, k: int) -> tuple[Rows, Scores]:
        """The k nearest rows and their exact cosines, best first."""
        if len(self.vectors) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if self._ivf is None:
            scores = self.vectors @ q
            rows = top_k(scores, k)
            return rows, scores[rows]
        _, found = self._ivf.search(q.reshape(1, -1), max(4 * k, 64))
        cand = found[0][found[0] >= 0].astype(np.int64)
        exact = self.vectors[cand] @ q
        order = top_k(exact, k)
        return cand[order], exact[order]

    def scores_of(self, rows: Rows, query: Vectors) -> Scores:
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        out: Scores = self.vectors[rows] @ q
        return out
