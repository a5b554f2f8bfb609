"""Character n-gram TF-IDF features over normalised text, for the linear intent model.

Latin words give character 2-4-grams inside word boundaries (robust to typos: "refnud");
runs of Chinese characters give character 1-3-grams (no word segmenter needed); digit runs
collapse to "0" so order numbers and amounts add no noise. Training fits the vocabulary
and IDF with scikit-learn; serving recomputes the same vector with this module alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

_RUN = re.compile(r"[a-z]+|[0-9]+|[\u3400-\u9fff\uf900-\ufaff]+")
_CJK_START = "\u3400"
MAX_FEATURE_CHARS = 512


def analyze(text: str) -> list[str]:
    """The n-grams of already-normalised text."""
    grams: list[str] = []
    for run in _RUN.findall(text[:MAX_FEATURE_CHARS]):
        c = run[0]
        if c.isdigit():
            grams.append("#0")
        elif c >= _CJK_START:
            n = len(run)
            grams.extend(run)
            grams.extend(run[i : i + 2] for i in range(n - 1))
            grams.extend(run[i : i + 3] for i in range(n - 2))
        else:
            w = f" {run} "
            n = len(w)
            for k in (2, 3, 4):
                grams.extend(w[i : i + k] for i in range(n - k + 1))
    return grams


class TfidfFeatures:
    """Serving side of the TF-IDF features: sublinear tf x idf, L2-normalised (the same
    formula as scikit-learn's `TfidfVectorizer(sublinear_tf=True)`)."""

    def __init__(self, vocabulary: Sequence[str], idf: npt.NDArray[np.float32]) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError("vocabulary and idf differ in length")
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self._index: Mapping[str, int] = {g: i for i, g in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(indices, values) of the non-zero features of one normalised text."""
        counts = Counter(g for g in analyze(text) if g in self._index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        idx = np.fromiter((self._index[g] for g in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter(
            (1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(counts)
        )
        vals = tf * self.idf[idx]
        norm = float(np.linalg.norm(vals))
        if norm > 0:
            vals /= norm
        return idx, vals
