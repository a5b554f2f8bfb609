"""Rerankers behind the `Reranker` Protocol: an HTTP client for reranking servers, and the
blend of its scores with the fused ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from kefu.knowledge.base import Reranker
from kefu.knowledge.model import Candidate

log = logging.getLogger(__name__)

RerankStyle = Literal["cohere", "tei"]


class RerankError(RuntimeError):
    pass


class _CohereItem(BaseModel):
    index: int
    relevance_score: float


class _CohereResponse(BaseModel):
    results: list[_CohereItem]


class _TeiItem(BaseModel):
    index: int
    score: float


class HttpReranker:
    """`style="cohere"`: `{"model", "query", "documents"}` -> `{"results": [{"index",
    "relevance_score"}]}` (vLLM with Qwen3-Reranker, Jina, Xinference). `style="tei"`:
    `{"query", "texts"}` -> `[{"index", "score"}]` (text-embeddings-inference)."""

    def __init__(
        self,
        *,
        url: str,
        model: str = "",
        style: RerankStyle = "cohere",
        api_key: str | None = None,
        timeout_s: float = 2.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not url:
            raise ValueError("url is required")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_s, headers=headers)
        self._url = url
        self._model = model
        self._style = style

    async def aclose(self) -> None:
        await self._client.aclose()

    async def rerank(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        texts = [f"{c.title}\n{c.best.text}" for c in candidates]
        if not texts:
            return []
        if self._style == "tei":
            body: dict[str, object] = {"query": query, "texts": texts}
        else:
            body = {"model": self._model, "query": query, "documents": texts}
        try:
            resp = await self._client.post(self._url, json=body)
            resp.raise_for_status()
            if self._style == "tei":
                pairs = [(i.index, i.score) for i in _tei_items(resp.content)]
            else:
                parsed = _CohereResponse.model_validate_json(resp.content)
                pairs = [(i.index, i.relevance_score) for i in parsed.results]
        except (httpx.HTTPError, ValidationError) as exc:
            raise RerankError(f"reranker: {exc}") from exc
        scores = [0.0] * len(texts)
        for index, score in pairs:
            if 0 <= index < len(texts):
                scores[index] = score
        return scores


_TEI_RESPONSE = TypeAdapter(list[_TeiItem])


def _tei_items(content: bytes) -> list[_TeiItem]:
    return _TEI_RESPONSE.validate_json(content)


async def rerank_candidates(
    reranker: Reranker,
    query: str,
    candidates: list[Candidate],
    *,
    top_n: int,
    weight: float,
) -> list[Candidate]:
    """Blend reranker scores into the top `top_n` candidates' fused scores:
    `(1 - weight) * fused + weight * rerank`. A failing reranker leaves the order alone."""
    head, tail = candidates[:top_n], candidates[top_n:]
    if not head:
        return candidates
    try:
        scores = await reranker.rerank(query, head)
    except RerankError as exc:
        log.warning("knowledge.rerank_failed error=%s", exc)
        return candidates
    blended = [
        replace(c, fused=(1 - weight) * c.fused + weight * s)
        for c, s in zip(head, scores, strict=True)
    ]
    blended.sort(key=lambda c: -c.fused)
    return blended + tail
