"""Protocols of the knowledge layer.

- `KnowledgeAnswerer`: what the dialogue manager calls (a question in, replies out).
- `KbStore`: the store of record of FAQ entries and documents, with their passages, vectors
  and tokens (SQLite by default, PostgreSQL in production): a restart never re-embeds.
- `Retriever`: the search index over those passages (in-process numpy/faiss + bm25s, or
  Milvus). Every backend passes `kefu.testing.retriever_conformance`.
- `AsyncEmbedder`: sentence vectors (the embedded USE model in a thread, or an
  OpenAI-compatible embeddings server).
- `Reranker`: an optional second stage over the fused candidates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kefu.domain.replies import Reply
from kefu.knowledge.model import (
    Candidate,
    ChangeSet,
    EntryKind,
    IndexedPassage,
    SearchQuery,
    SearchResult,
    StoredEntry,
)
from kefu.nlu.base import Vectors


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeAnswer:
    replies: tuple[Reply, ...]
    sources: tuple[Source, ...]
    # faq: an FAQ answer, or a question asking which of two close FAQ entries is meant;
    # kb: a passage of a document; llm: a generated answer (the LLM layer);
    # fallback: "not in the knowledge base" with a button to a human agent.
    answer_source: str


class KnowledgeAnswerer(Protocol):
    """Answers a question from the shop's knowledge base, or returns None."""

    async def answer(self, question: str, *, lang: str, tenant: str) -> KnowledgeAnswer | None: ...

    async def answer_entry(
        self, entry_id: str, *, lang: str, tenant: str
    ) -> KnowledgeAnswer | None:
        """The answer of one entry, for a click on a clarifying option (payload
        `{"faq_id": ...}`); None when the entry no longer exists."""
        ...


class AsyncEmbedder(Protocol):
    """One L2-normalised row per text; `name` identifies the model (vectors of different
    models are never mixed: a store records the name with each vector)."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


class KbStore(Protocol):
    """The store of record. `write` is atomic: all of a change set, or nothing."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def version(self, tenant: str) -> int:
        """Grows by one with every write of the tenant (0: never written)."""
        ...

    async def tenants(self) -> list[str]: ...

    async def digests(self, tenant: str) -> dict[str, str]:
        """entry id -> digest of every entry of the tenant."""
        ...

    async def get(self, tenant: str, entry_id: str) -> StoredEntry | None: ...

    async def list_entries(
        self,
        tenant: str,
        *,
        kind: EntryKind | None = None,
        lang: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[StoredEntry], int]:
        """A page of entries ordered by id, and the total count matching the filters."""
        ...

    async def passages(
        self, tenant: str, *, embedder: str, entry_ids: Sequence[str] | None = None
    ) -> list[IndexedPassage]:
        """The passages of the tenant (or of the given entries) whose vectors `embedder`
        made, in entry and passage order."""
        ...

    async def stale(self, tenant: str, *, embedder: str) -> list[str]:
        """Ids of entries whose vectors another embedder made (to re-embed them)."""
        ...

    async def write(
        self,
        tenant: str,
        changes: ChangeSet,
        *,
        embedder: str,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Apply the changes in one transaction and return the new version. `before_commit`
        runs inside the transaction (to update the search index): if it raises, nothing is
        written."""
        ...


class Retriever(Protocol):
    """A search index over passages, partitioned by tenant (and language)."""

    @property
    def persistent(self) -> bool:
        """True when the index outlives the process (Milvus): nothing to load at start."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, tenant: str, passages: Sequence[IndexedPassage]) -> None:
        """Replace everything indexed for the tenant."""
        ...

    async def apply(self, tenant: str, changes: ChangeSet) -> None:
        """Upsert entries (all their passages are replaced) and delete entries."""
        ...

    async def search(self, tenant: str, query: SearchQuery) -> SearchResult:
        """The candidate entries of a question in the question's language (every language
        when that one has nothing indexed): top-k passages by vector, top-k by BM25, then
        every passage of the entries they belong to, with both scores."""
        ...

    async def count(self, tenant: str) -> int:
        """Passages indexed for the tenant."""
        ...


class Reranker(Protocol):
    """Re-scores fused candidates (a cross-encoder or a Qwen3-Reranker server)."""

    async def rerank(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        """One relevance score in 0..1 per candidate, in the candidates' order."""
        ...
