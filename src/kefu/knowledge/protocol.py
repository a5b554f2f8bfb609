"""Wire models of the knowledge admin API (/v1/admin/kb)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu.knowledge.model import Candidate, StoredEntry, entry_to_data
from kefu.knowledge.parsing import DocRow, FaqRow, Rejected
from kefu.knowledge.service import ImportSummary


class FaqIn(FaqRow):
    """An FAQ entry: `id`, `question`, `answer`, optional `similar`, `category`, `lang`
    (detected from the question when absent)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DocIn(DocRow):
    """A document: `id`, `content` (Markdown or text), optional `title`, `category`, `lang`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EntryOut(BaseModel):
    kind: Literal["faq", "doc"]
    id: str
    lang: str
    category: str
    question: str | None = None
    similar: list[str] | None = None
    answer: str | None = None
    title: str | None = None
    content: str | None = None
    updated_at: float

    @classmethod
    def of(cls, stored: StoredEntry) -> EntryOut:
        return cls.model_validate({**entry_to_data(stored.entry), "updated_at": stored.updated_at})


class WriteOut(BaseModel):
    status: Literal["added", "updated", "unchanged"]
    entry: EntryOut


class EntryPage(BaseModel):
    total: int
    offset: int
    limit: int
    entries: list[EntryOut]


class HitOut(BaseModel):
    id: str
    kind: Literal["faq", "doc"]
    title: str
    passage: str
    dense: float = Field(description="role-weighted cosine similarity")
    bm25: float = Field(description="BM25 divided by the best BM25 score of the query")
    fused: float


class SearchOut(BaseModel):
    query: str
    lang: str
    decision: Literal["answer", "clarify", "not_found"]
    hits: list[HitOut]


def hit_of(c: Candidate) -> HitOut:
    return HitOut(
        id=c.entry_id,
        kind=c.kind,
        title=c.title,
        passage=c.best.text,
        dense=round(c.dense, 4),
        bm25=round(c.sparse, 4),
        fused=round(c.fused, 4),
    )


class RejectedOut(BaseModel):
    line: int
    id: str
    reason: str


class ImportOut(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    deleted: list[str]
    rejected: list[RejectedOut]
    version: int

    @classmethod
    def of(cls, summary: ImportSummary, rejected: tuple[Rejected, ...]) -> ImportOut:
        return cls(
            added=summary.added,
            updated=summary.updated,
            unchanged=summary.unchanged,
            deleted=summary.deleted,
            rejected=[RejectedOut(line=r.line, id=r.id, reason=r.reason) for r in rejected],
            version=summary.version,
        )
