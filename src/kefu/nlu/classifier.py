"""Stage 1b classifiers: a trained model over sentence embeddings, and a wrapper that swaps
in a newly trained model file while the server runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kefu.nlu.base import Embedder
from kefu.nlu.model import LinearIntentModel, ModelFileError

log = logging.getLogger(__name__)

Ranked = list[tuple[str, float]]


class EmbeddingClassifier:
    """A `LinearIntentModel` with the embedder it was trained with."""

    def __init__(self, model: LinearIntentModel, embedder: Embedder) -> None:
        if model.info.embedder != embedder.name:
            raise ModelFileError(
                f"the model was trained with embedder {model.info.embedder!r}, "
                f"this server embeds with {embedder.name!r}: retrain it"
            )
        self.model = model
        self._embedder = embedder

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(self.model.labels)

    @property
    def threshold(self) -> float:
        return self.model.threshold

    @property
    def use_rules(self) -> bool:
        return self.model.info.use_rules

    def classify(self, text: str, *, lang: str) -> Ranked:
        emb = self._embedder.embed([text])
        return self.model.ranked(text, emb[0])

    def classify_many(self, texts: Sequence[str]) -> list[Ranked]:
        """Many normalised texts at once (one embedding batch): evaluation and benchmarks."""
        emb = self._embedder.embed(list(texts))
        return [self.model.ranked(t, emb[i]) for i, t in enumerate(texts)]


@dataclass(frozen=True, slots=True)
class _Stamp:
    mtime_ns: int
    size: int


class ReloadingClassifier:
    """Serves the model file at `path` when there is one, else the `fallback` model.

    At most every `check_every_s` seconds it looks at the file's modification time and size;
    when they change it loads the new file and swaps it in (a file that fails to load is
    logged and the current model stays). `kefu nlu train` writes the file atomically, so a
    running server picks up a new model within a few seconds, without a restart.
    """

    def __init__(
        self,
        path: Path,
        *,
        embedder: Embedder,
        fallback: Callable[[], LinearIntentModel],
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._embedder = embedder
        self._fallback = fallback
        self._every = check_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._checked_at = clock()
        self._current = self._initial()

    @property
    def current(self) -> EmbeddingClassifier:
        self._maybe_reload()
        return self._current

    @property
    def labels(self) -> frozenset[str]:
        return self.current.labels

    @property
    def threshold(self) -> float:
        return self.current.threshold

    @property
    def use_rules(self) -> bool:
        return self.current.use_rules

    def classify(self, text: str, *, lang: str) -> Ranked:
        return self.current.classify(text, lang=lang)

    def classify_many(self, texts: Sequence[str]) -> list[Ranked]:
        return self.current.classify_many(texts)

    def _stat(self) -> _Stamp | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return _Stamp(st.st_mtime_ns, st.st_size)

    def _initial(self) -> EmbeddingClassifier:
        self._stamp = self._stat()
        if self._stamp is not None:
            try:
                return self._load_file()
            except ModelFileError as exc:
                log.error(
                    "nlu.model_unusable path=%s error=%s (using the default)", self._path, exc
                )
        return EmbeddingClassifier(self._fallback(), self._embedder)

    def _load_file(self) -> EmbeddingClassifier:
        clf = EmbeddingClassifier(LinearIntentModel.load(self._path), self._embedder)
        log.info(
            "nlu.model_loaded path=%s intents=%d source=%s",
            self._path,
            len(clf.labels),
            clf.model.info.source,
        )
        return clf

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked_at < self._every:
            return
        with self._lock:
            if now - self._checked_at < self._every:
                return
            self._checked_at = now
            stamp = self._stat()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            if stamp is None:
                log.warning("nlu.model_removed path=%s (back to the default)", self._path)
                self._current = EmbeddingClassifier(self._fallback(), self._embedder)
                return
            try:
                self._current = self._load_file()
            except ModelFileError as exc:
                log.error("nlu.model_reload_failed path=%s error=%s", self._path, exc)
