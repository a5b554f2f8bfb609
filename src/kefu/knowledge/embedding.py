"""Async embedders for the knowledge base.

`ThreadedEmbedder` adapts kefu.nlu's synchronous `Embedder` (the embedded USE model, shared
with NLU so its weights load once): it runs in a worker thread, and texts longer than the
model's window are embedded piecewise (by sentences) and averaged.
`OpenAICompatEmbedder` calls an OpenAI-compatible `/v1/embeddings` server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import httpx
import numpy as np
from pydantic import BaseModel, ValidationError

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.text import split_sentences
from kefu.nlu.base import Embedder, Vectors


class EmbeddingError(RuntimeError):
    """The embedding server failed or answered something unusable."""


def l2_normalize(m: Vectors) -> Vectors:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (m / norms).astype(np.float32)
    return out


def pieces(text: str, max_chars: int) -> list[str]:
    """The text cut into pieces of at most `max_chars`, at sentence ends where possible."""
    if len(text) <= max_chars:
        return [text]
    out: list[str] = []
    cur = ""
    for sentence in split_sentences(text):
        while len(sentence) > max_chars:
            if cur:
                out.append(cur)
                cur = ""
            out.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if cur and len(cur) + 1 + len(sentence) > max_chars:
            out.append(cur)
            cur = ""
        cur = f"{cur} {sentence}" if cur else sentence
    if cur:
        out.append(cur)
    return out or [text[:max_chars]]


class ThreadedEmbedder:
    """An `AsyncEmbedder` over a synchronous `Embedder`, one call at a time in a thread."""

    def __init__(self, embedder: Embedder, *, piece_chars: int = 256) -> None:
        if piece_chars < 16:
            raise ValueError("piece_chars must be at least 16")
        self._embedder = embedder
        self._piece_chars = piece_chars
        self._lock = threading.Lock()  # one encode at a time, whichever event loop calls

    @property
    def name(self) -> str:
        return self._embedder.name

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking variant (benchmarks, worker threads)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        split = [pieces(t, self._piece_chars) for t in texts]
        flat = [p for ps in split for p in ps]
        with self._lock:
            vecs = np.asarray(self._embedder.embed(flat), dtype=np.float32)
        if len(flat) == len(texts):
            return l2_normalize(vecs)
        out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        i = 0
        for row, ps in enumerate(split):
            out[row] = vecs[i : i + len(ps)].mean(axis=0)
            i += len(ps)
        return l2_normalize(out)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if len(texts) == 1 and len(texts[0]) <= self._piece_chars:
            # One customer question: a few milliseconds of encoding, done right here. In a
            # worker thread it would take turns with the event loop for the GIL (a switch
            # every 5 ms), and under load each question then took tens of milliseconds.
            return self.embed_sync(texts)
        return await asyncio.to_thread(self.embed_sync, list(texts))


class _EmbeddingItem(BaseModel):
    index: int
    embedding: list[float]


class _EmbeddingResponse(BaseModel):
    data: list[_EmbeddingItem]


class OpenAICompatEmbedder:
    """`POST {base_url}/embeddings` with `{"model", "input": [...]}` (OpenAI, vLLM, TEI)."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        batch_size: int = 64,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url or not model:
            raise ValueError("base_url and model are required")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers
        )
        self._model = model
        self._batch = batch_size

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[Vectors] = []
        for start in range(0, len(texts), self._batch):
            rows.append(await self._embed_batch(list(texts[start : start + self._batch])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(rows)

    async def _embed_batch(self, batch: list[str]) -> Vectors:
        last: Exception | None = None
        for _ in range(2):  # embedding is idempotent: one retry on a transport error
            try:
                resp = await self._client.post(
                    "/embeddings", json={"model": self._model, "input": batch}
                )
                resp.raise_for_status()
                parsed = _EmbeddingResponse.model_validate_json(resp.content)
                break
            except httpx.TransportError as exc:
                last = exc
            except (httpx.HTTPStatusError, ValidationError) as exc:
                raise EmbeddingError(f"embedding server: {exc}") from exc
        else:
            raise EmbeddingError(f"embedding server unreachable: {last}") from last
        items = sorted(parsed.data, key=lambda it: it.index)
        if len(items) != len(batch) or len({len(it.embedding) for it in items}) != 1:
            raise EmbeddingError("embedding server returned the wrong number or shape of rows")
        return l2_normalize(np.asarray([it.embedding for it in items], dtype=np.float32))


class PrecomputedEmbedder:
    """Vectors shipped with kefu (the default FAQ) looked up by text; other texts go to the
    real embedder. Only used when the shipped vectors come from the same model."""

    def __init__(self, inner: AsyncEmbedder, table: dict[str, Vectors]) -> None:
        self._inner = inner
        self._table = table

    @property
    def name(self) -> str:
        return self._inner.name

    async def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._table]
        found = dict(self._table)
        if missing:
            for t, v in zip(missing, await self._inner.embed(missing), strict=True):
                found[t] = v
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return l2_normalize(np.vstack([found[t] for t in texts]).astype(np.float32))
