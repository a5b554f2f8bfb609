"""BM25 over pre-computed tokens (bm25s). Immutable: a new index per change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kefu.knowledge.dense import Rows, Scores, top_k

K1 = 1.2
B = 0.75


class SparseIndex:
    """BM25 scores of every row of a partition; rows without tokens never score."""

    def __init__(self, tokens: Sequence[Sequence[str]]) -> None:
        self._size = len(tokens)
        rows = [i for i, t in enumerate(tokens) if t]
        self._rows: npt.NDArray[np.int64] = np.asarray(rows, dtype=np.int64)
        self._bm25: Any = None
        if rows:
            import bm25s  # type: ignore[import-untyped]

            bm25 = bm25s.BM25(k1=K1, b=B)
            bm25.index([list(tokens[i]) for i in rows], show_progress=False)
            self._bm25 = bm25

    def __len__(self) -> int:
        return self._size

    def scores(self, query: Sequence[str]) -> Scores:
        """One BM25 score per row of the partition (0 where no query term occurs)."""
        out = np.zeros(self._size, dtype=np.float32)
        terms = [t for t in query if t]
        if self._bm25 is None or not terms:
            return out
        out[self._rows] = self._bm25.get_scores(terms)
        return out

    def search(self, query: Sequence[str], k: int) -> tuple[Rows, Scores, Scores]:
        """The k best rows with a positive score, their scores, and all scores."""
        scores = self.scores(query)
        rows = top_k(scores, k)
        rows = rows[scores[rows] > 0]
        return rows, scores[rows], scores
