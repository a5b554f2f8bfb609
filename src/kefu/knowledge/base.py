"""Protocols of the knowledge layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kefu.domain.replies import Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeAnswer:
    replies: tuple[Reply, ...]
    sources: tuple[Source, ...]
    answer_source: str  # faq | kb | llm


class KnowledgeAnswerer(Protocol):
    """Answers a question from the shop's knowledge base, or returns None."""

    async def answer(self, question: str, *, lang: str, tenant: str) -> KnowledgeAnswer | None: ...
