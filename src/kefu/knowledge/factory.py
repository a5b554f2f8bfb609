"""Building the knowledge layer from Settings (called by the composition root and the CLI)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from kefu.knowledge.answerer import KbAnswerer
from kefu.knowledge.base import AsyncEmbedder, KbStore, KnowledgeAnswer, Retriever
from kefu.knowledge.cache import AnswerCache
from kefu.knowledge.embedding import OpenAICompatEmbedder, ThreadedEmbedder
from kefu.knowledge.memory_retriever import InMemoryRetriever
from kefu.knowledge.metrics import KnowledgeMetrics
from kefu.knowledge.model import Candidate
from kefu.knowledge.rerank import HttpReranker
from kefu.knowledge.retrieval import RerankStage
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import (
    KnowledgeSettings,
    resolved_milvus_uri,
    resolved_url,
)
from kefu.knowledge.sql_store import SqlKbStore
from kefu.observability.metrics import Metrics
from kefu.settings import Settings

log = logging.getLogger(__name__)


class Knowledge:
    """The knowledge layer as the app holds it: a `KnowledgeAnswerer` for the dialogue
    manager, the `KnowledgeBase` for the admin API and the CLI, and a start/close lifecycle
    (`start` loads the index and, on a fresh install, the default FAQ)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        answerer: KbAnswerer,
        *,
        clients: Sequence[object] = (),
    ) -> None:
        self.kb = kb
        self.answerer = answerer
        self._clients = tuple(clients)  # HTTP clients to close (embedding, reranker)
        self._started = False

    async def start(self) -> None:
        """Open the store and the index (seeding the default FAQ into a never-written KB),
        then load the sentence encoder so the first question does not wait for it."""
        if not self._started:
            await self.kb.start()
            self._started = True
            try:
                await self.kb.embedder.embed(["warm up"])
            except Exception as exc:  # an embedding server may come up later
                log.warning("knowledge.warm_up_failed error=%s", exc)

    async def close(self) -> None:
        if self._started:
            await self.kb.close()
            self._started = False
        for client in self._clients:
            aclose = getattr(client, "aclose", None)
            if aclose is not None:
                await aclose()

    async def answer(self, question: str, *, lang: str, tenant: str) -> KnowledgeAnswer | None:
        return await self.answerer.answer(question, lang=lang, tenant=tenant)

    async def answer_entry(
        self, entry_id: str, *, lang: str, tenant: str
    ) -> KnowledgeAnswer | None:
        return await self.answerer.answer_entry(entry_id, lang=lang, tenant=tenant)

    async def rank(self, question: str, *, lang: str, tenant: str) -> list[Candidate]:
        """Grounding for an LLM answer: the fused candidates, best first."""
        return await self.answerer.rank(question, lang=lang, tenant=tenant)


def knowledge_settings(settings: Settings) -> KnowledgeSettings:
    """`settings.knowledge` once the settings root has it, else the defaults."""
    value = getattr(settings, "knowledge", None)
    return value if isinstance(value, KnowledgeSettings) else KnowledgeSettings()


def build_embedder(settings: Settings) -> AsyncEmbedder:
    k = knowledge_settings(settings).embedding
    if k.backend == "openai":
        return OpenAICompatEmbedder(
            base_url=k.base_url,
            model=k.model,
            api_key=k.api_key.get_secret_value() if k.api_key else None,
            timeout_s=k.timeout_s,
            batch_size=k.batch_size,
        )
    from kefu.nlu.embedder import shared_use_embedder

    nlu = settings.nlu
    piece = min(knowledge_settings(settings).embed_piece_chars, nlu.embed_max_chars)
    return ThreadedEmbedder(
        shared_use_embedder(nlu.embed_threads, nlu.embed_max_chars), piece_chars=piece
    )


def build_store(settings: Settings) -> KbStore:
    from kefu.dialogue.sql_store import make_engine

    storage_url = settings.resolved_storage_url()
    url = resolved_url(
        knowledge_settings(settings), data_dir=settings.data_dir, storage_url=storage_url
    )
    schema = settings.storage.schema_name if url == storage_url else None
    return SqlKbStore(make_engine(url, schema=schema))


def build_retriever(settings: Settings) -> Retriever:
    k = knowledge_settings(settings)
    if k.backend == "milvus":
        from kefu.knowledge.milvus_retriever import MilvusRetriever

        m = k.milvus
        return MilvusRetriever(
            uri=resolved_milvus_uri(k, data_dir=settings.data_dir),
            token=m.token.get_secret_value() if m.token else "",
            db_name=m.db_name,
            collection=m.collection,
            timeout_s=m.timeout_s,
        )
    return InMemoryRetriever(ivf_min=k.ivf_min_passages, nprobe=k.ivf_nprobe)


def build_rerank(k: KnowledgeSettings) -> RerankStage | None:
    r = k.rerank
    if r.backend == "none":
        return None
    reranker = HttpReranker(
        url=r.url,
        model=r.model,
        style=r.style,
        api_key=r.api_key.get_secret_value() if r.api_key else None,
        timeout_s=r.timeout_s,
    )
    return RerankStage(reranker=reranker, top_n=r.top_n, weight=r.weight)


def build_knowledge(
    settings: Settings,
    *,
    metrics: Metrics | CollectorRegistry | None = None,
    embedder: AsyncEmbedder | None = None,
    store: KbStore | None = None,
    retriever: Retriever | None = None,
) -> Knowledge:
    """The knowledge layer as configured. Nothing connects or loads until `start()`."""
    k = knowledge_settings(settings)
    embedder = embedder or build_embedder(settings)
    rerank = build_rerank(k)
    kb = KnowledgeBase(
        store=store or build_store(settings),
        retriever=retriever or build_retriever(settings),
        embedder=embedder,
        settings=k,
        rerank=rerank,
    )
    cache = AnswerCache(k.cache) if k.cache.enabled else None
    kb_metrics = KnowledgeMetrics(metrics) if metrics is not None else None
    answerer = KbAnswerer(kb, policy=k.policy, cache=cache, metrics=kb_metrics)
    clients = [embedder, rerank.reranker] if rerank is not None else [embedder]
    return Knowledge(kb, answerer, clients=clients)
