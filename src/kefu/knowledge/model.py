"""Value types of the knowledge base: entries, passages, search results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np

from kefu.nlu.base import Vectors

EntryKind = Literal["faq", "doc"]
# What a passage stands for. FAQ entries: every question variant ("question"), the mean of
# their vectors ("centroid"), and the answer ("answer", which also carries the BM25 text of
# the whole entry). Documents: each chunk ("chunk") and the title ("title").
Role = Literal["question", "centroid", "answer", "chunk", "title"]
ROLES: tuple[Role, ...] = ("question", "centroid", "answer", "chunk", "title")

# Bump when chunking or passage building changes: entries are then re-indexed on import.
PASSAGE_VERSION = "1"


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqEntry:
    id: str
    lang: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    category: str = ""

    @property
    def kind(self) -> EntryKind:
        return "faq"

    @property
    def title(self) -> str:
        return self.question


@dataclass(frozen=True, slots=True, kw_only=True)
class DocEntry:
    id: str
    lang: str
    title: str
    content: str
    category: str = ""

    @property
    def kind(self) -> EntryKind:
        return "doc"


Entry: TypeAlias = FaqEntry | DocEntry


def entry_to_data(entry: Entry) -> dict[str, str | list[str]]:
    """The entry as JSON-able data (stored, exported and shown by the admin API)."""
    if isinstance(entry, FaqEntry):
        return {
            "kind": "faq",
            "id": entry.id,
            "lang": entry.lang,
            "category": entry.category,
            "question": entry.question,
            "similar": list(entry.similar),
            "answer": entry.answer,
        }
    return {
        "kind": "doc",
        "id": entry.id,
        "lang": entry.lang,
        "category": entry.category,
        "title": entry.title,
        "content": entry.content,
    }


def entry_from_data(data: dict[str, object]) -> Entry:
    """Inverse of `entry_to_data` (for data this module wrote; input files go through
    `kefu.knowledge.parsing`)."""
    if data.get("kind") == "faq":
        similar = data.get("similar")
        return FaqEntry(
            id=str(data["id"]),
            lang=str(data["lang"]),
            category=str(data.get("category", "")),
            question=str(data["question"]),
            similar=tuple(str(s) for s in similar) if isinstance(similar, list) else (),
            answer=str(data["answer"]),
        )
    return DocEntry(
        id=str(data["id"]),
        lang=str(data["lang"]),
        category=str(data.get("category", "")),
        title=str(data["title"]),
        content=str(data["content"]),
    )


def entry_digest(entry: Entry) -> str:
    """A fingerprint of everything that changes an entry's passages: same digest, same index."""
    raw = json.dumps([PASSAGE_VERSION, entry_to_data(entry)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    """One retrievable unit of an entry. `text` is embedded and shown; `sparse_text` is what
    BM25 indexes ("" for passages found by their vector only)."""

    key: str
    entry_id: str
    kind: EntryKind
    role: Role
    lang: str
    title: str
    text: str
    sparse_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class IndexedPassage:
    """A passage with its vector (L2-normalised) and BM25 tokens, ready for any index."""

    passage: Passage
    vector: Vectors
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryChange:
    """Replace (or add) one entry and all its passages."""

    entry: Entry
    digest: str
    passages: tuple[IndexedPassage, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeSet:
    upserts: tuple[EntryChange, ...] = ()
    deletes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.upserts and not self.deletes


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SearchQuery:
    text: str
    lang: str
    vector: Vectors
    tokens: tuple[str, ...]
    # Passages fetched from each of the dense and the sparse search before expansion.
    k: int = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PassageScore:
    """A passage of a candidate entry with its raw scores. `dense` is the cosine with the
    question; `sparse` the backend's BM25 score (0 when the passage has no term in common)."""

    passage: Passage
    dense: float
    sparse: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """Every passage of every candidate entry, and the best BM25 score of the query in the
    searched partition (to normalise BM25 to 0..1)."""

    passages: tuple[PassageScore, ...]
    sparse_top: float = 0.0
    lang: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """An entry ranked for a question: role-weighted dense score, normalised BM25, fused."""

    entry_id: str
    kind: EntryKind
    title: str
    best: Passage
    dense: float
    sparse: float
    fused: float
    roles: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    entry: Entry
    digest: str
    updated_at: float


def as_vector(values: object) -> Vectors:
    return np.asarray(values, dtype=np.float32).reshape(-1)
