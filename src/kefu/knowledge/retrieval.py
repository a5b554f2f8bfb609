"""Hybrid retrieval: embed and tokenise the question, search the index, fuse dense and BM25
scores per entry, and optionally rerank."""

from __future__ import annotations

from dataclasses import dataclass

from kefu.knowledge.base import AsyncEmbedder, Reranker, Retriever
from kefu.knowledge.fusion import fuse
from kefu.knowledge.model import Candidate, SearchQuery
from kefu.knowledge.rerank import rerank_candidates
from kefu.knowledge.settings import FusionWeights
from kefu.knowledge.text import tokenize
from kefu.nlu.base import Vectors


@dataclass(frozen=True, slots=True, kw_only=True)
class RerankStage:
    reranker: Reranker
    top_n: int = 10
    weight: float = 0.5


class HybridSearcher:
    def __init__(
        self,
        *,
        retriever: Retriever,
        embedder: AsyncEmbedder,
        weights: FusionWeights,
        top_k: int = 20,
        rerank: RerankStage | None = None,
    ) -> None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.retriever = retriever
        self.embedder = embedder
        self.weights = weights
        self._top_k = top_k
        self._rerank = rerank

    async def embed_query(self, text: str) -> Vectors:
        vecs = await self.embedder.embed([text])
        row: Vectors = vecs[0]
        return row

    async def rank(
        self,
        tenant: str,
        text: str,
        *,
        lang: str,
        vector: Vectors | None = None,
        top_k: int | None = None,
    ) -> list[Candidate]:
        """Entries for the question, best first (one candidate per FAQ entry or document)."""
        if vector is None:
            vector = await self.embed_query(text)
        query = SearchQuery(
            text=text,
            lang=lang,
            vector=vector,
            tokens=tuple(tokenize(text)),
            k=top_k or self._top_k,
        )
        result = await self.retriever.search(tenant, query)
        candidates = fuse(result, self.weights)
        if self._rerank is not None and candidates:
            candidates = await rerank_candidates(
                self._rerank.reranker,
                text,
                candidates,
                top_n=self._rerank.top_n,
                weight=self._rerank.weight,
            )
        return candidates
