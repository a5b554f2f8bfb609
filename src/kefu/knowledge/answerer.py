"""Answers without an LLM: the FAQ answer, the best passage of a document with its title, a
choice between two close FAQ entries, or "not in the knowledge base" with a human button.

The LLM layer plugs in by wrapping `KbAnswerer`: `rank()` gives it the grounded candidates,
and it returns its own `KnowledgeAnswer` with `answer_source="llm"`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from kefu.domain.replies import Option, OptionsReply, Reply, TextReply
from kefu.knowledge.base import KnowledgeAnswer, Source
from kefu.knowledge.cache import AnswerCache
from kefu.knowledge.embedding import EmbeddingError
from kefu.knowledge.metrics import KnowledgeMetrics
from kefu.knowledge.milvus_retriever import MilvusError
from kefu.knowledge.model import Candidate, DocEntry, FaqEntry
from kefu.knowledge.policy import Decision, decide
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import AnswerPolicy
from kefu.knowledge.sql_store import KbStoreError
from kefu.knowledge.text import normalize
from kefu.knowledge.texts import text

log = logging.getLogger(__name__)

HUMAN_PAYLOAD = {"intent": "human_agent"}
# What a knowledge backend raises when it is down or broken.
KB_ERRORS: tuple[type[Exception], ...] = (
    EmbeddingError,
    KbStoreError,
    MilvusError,
    OSError,
    TimeoutError,
)


def _source(c: Candidate) -> Source:
    return Source(id=c.entry_id, title=c.title, score=round(c.fused, 4))


def not_found(lang: str) -> KnowledgeAnswer:
    reply = OptionsReply(
        text=text("not_found", lang),
        options=(Option(id="kb-human", label=text("human", lang), payload=dict(HUMAN_PAYLOAD)),),
    )
    return KnowledgeAnswer(replies=(reply,), sources=(), answer_source="fallback")


def clarify(chosen: Sequence[Candidate], lang: str) -> KnowledgeAnswer:
    options = [
        Option(id=f"kb-faq-{c.entry_id}", label=c.title, payload={"faq_id": c.entry_id})
        for c in chosen
    ]
    options.append(
        Option(id="kb-human", label=text("none_of_these", lang), payload=dict(HUMAN_PAYLOAD))
    )
    reply = OptionsReply(text=text("clarify", lang), options=tuple(options))
    return KnowledgeAnswer(
        replies=(reply,), sources=tuple(_source(c) for c in chosen), answer_source="faq"
    )


def render(decision: Decision, lang: str) -> KnowledgeAnswer:
    if decision.outcome == "not_found":
        return not_found(lang)
    if decision.outcome == "clarify":
        return clarify(decision.chosen, lang)
    top = decision.chosen[0]
    if top.kind == "faq":
        reply: Reply = TextReply(text=top.best.text)  # the FAQ's "answer" passage
        return KnowledgeAnswer(replies=(reply,), sources=(_source(top),), answer_source="faq")
    body = text("from_doc", lang, title=top.title, text=top.best.text)
    return KnowledgeAnswer(
        replies=(TextReply(text=body),), sources=(_source(top),), answer_source="kb"
    )


def outcome_of(answer: KnowledgeAnswer) -> str:
    """faq | kb | clarify | not_found (the metric label)."""
    if answer.answer_source == "fallback":
        return "not_found"
    if answer.replies and isinstance(answer.replies[0], OptionsReply):
        return "clarify"
    return answer.answer_source


class KbAnswerer:
    """The `KnowledgeAnswerer` of kefu: cache, hybrid retrieval, calibrated decision."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        policy: AnswerPolicy,
        cache: AnswerCache | None = None,
        metrics: KnowledgeMetrics | None = None,
    ) -> None:
        self.kb = kb
        self.policy = policy
        self.cache = cache
        self.metrics = metrics
        if cache is not None:
            kb.on_change(cache.invalidate)

    async def rank(self, question: str, *, lang: str, tenant: str) -> list[Candidate]:
        await self.kb.ensure_fresh(tenant)
        return await self.kb.searcher.rank(tenant, question, lang=lang)

    async def answer(self, question: str, *, lang: str, tenant: str) -> KnowledgeAnswer | None:
        """The answer, or None when the KB is down (the dialogue manager's fallback then
        answers: a broken embedding server or Milvus must not break the conversation)."""
        return (await self.answer_ranked(question, lang=lang, tenant=tenant))[0]

    async def answer_ranked(
        self, question: str, *, lang: str, tenant: str
    ) -> tuple[KnowledgeAnswer | None, list[Candidate] | None]:
        """`answer`, with the ranked candidates when it ranked them (None on a cache hit):
        the LLM layer grounds its answer on them without searching twice."""
        started = time.perf_counter()
        ranked: list[Candidate] = []
        try:
            result = await self._answer(question, lang=lang, tenant=tenant, keep=ranked)
        except KB_ERRORS as exc:
            log.error("knowledge.answer_failed tenant=%s error=%s", tenant, exc)
            if self.metrics is not None:
                self.metrics.answers.labels(tenant=tenant, outcome="error").inc()
            return None, None
        if self.metrics is not None:
            self.metrics.answer_seconds.observe(time.perf_counter() - started)
        candidates = ranked or None
        if result is not None and result.answer_source == "fallback":
            return (None if self.policy.not_found == "none" else result), candidates
        return result, candidates

    async def _answer(
        self, question: str, *, lang: str, tenant: str, keep: list[Candidate]
    ) -> KnowledgeAnswer | None:
        norm = normalize(question)
        if not norm:
            return None
        version = await self.kb.ensure_fresh(tenant)
        cache = self.cache
        if cache is not None:
            hit = cache.get_exact(tenant, lang, version, norm)
            if hit is not None:
                return self._counted(tenant, "exact", hit)
        vector = await self.kb.searcher.embed_query(question)
        if cache is not None:
            hit = cache.get_semantic(tenant, lang, version, vector)
            if hit is not None:
                return self._counted(tenant, "semantic", hit)
        candidates = await self.kb.searcher.rank(tenant, question, lang=lang, vector=vector)
        keep.extend(candidates)
        decision = decide(candidates, self.policy, lang=lang)
        answer = render(decision, lang)
        if cache is not None:
            semantic = decision.outcome == "answer"
            cache.put(tenant, lang, version, norm, answer, vector=vector if semantic else None)
        return self._counted(tenant, "miss", answer)

    def _counted(self, tenant: str, result: str, answer: KnowledgeAnswer) -> KnowledgeAnswer:
        if self.metrics is not None:
            if self.cache is not None:
                self.metrics.cache_result(tenant, result)
            self.metrics.answers.labels(tenant=tenant, outcome=outcome_of(answer)).inc()
        return answer

    async def answer_entry(
        self, entry_id: str, *, lang: str, tenant: str
    ) -> KnowledgeAnswer | None:
        stored = await self.kb.get(tenant, entry_id)
        if stored is None:
            return None
        entry = stored.entry
        source = (Source(id=entry.id, title=entry.title, score=1.0),)
        if isinstance(entry, FaqEntry):
            return KnowledgeAnswer(
                replies=(TextReply(text=entry.answer),), sources=source, answer_source="faq"
            )
        assert isinstance(entry, DocEntry)
        body = text("from_doc", lang, title=entry.title, text=entry.content[:600])
        return KnowledgeAnswer(replies=(TextReply(text=body),), sources=source, answer_source="kb")
