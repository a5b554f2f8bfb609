"""Entries into indexed passages: chunking, embedding (in batches, with progress) and BM25
tokens. The result is what the store keeps, so a restart never re-embeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.chunking import chunk_text
from kefu.knowledge.embedding import l2_normalize
from kefu.knowledge.model import (
    DocEntry,
    Entry,
    EntryChange,
    FaqEntry,
    IndexedPassage,
    Passage,
    Role,
    entry_digest,
)
from kefu.knowledge.text import tokenize

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkPolicy:
    size: int = 400
    overlap: int = 80


def _faq_passage(entry: FaqEntry, key: str, role: Role, text: str, sparse: str = "") -> Passage:
    return Passage(
        key=f"{entry.id}#{key}",
        entry_id=entry.id,
        kind="faq",
        role=role,
        lang=entry.lang,
        title=entry.question,
        text=text,
        sparse_text=sparse,
    )


def faq_passages(entry: FaqEntry) -> list[Passage]:
    """One passage per question variant, the centroid of their vectors, and the answer (which
    carries the BM25 text of the whole entry)."""
    variants = list(dict.fromkeys([entry.question, *entry.similar]))
    out = [_faq_passage(entry, f"q{i}", "question", v) for i, v in enumerate(variants)]
    out.append(_faq_passage(entry, "c", "centroid", entry.question))
    whole = "\n".join([*variants, entry.answer])
    out.append(_faq_passage(entry, "a", "answer", entry.answer, whole))
    return out


def doc_passages(entry: DocEntry, policy: ChunkPolicy) -> list[Passage]:
    out = [
        Passage(
            key=f"{entry.id}#t",
            entry_id=entry.id,
            kind="doc",
            role="title",
            lang=entry.lang,
            title=entry.title,
            text=entry.title,
        )
    ]
    for i, chunk in enumerate(chunk_text(entry.content, size=policy.size, overlap=policy.overlap)):
        text = f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text
        out.append(
            Passage(
                key=f"{entry.id}#{i}",
                entry_id=entry.id,
                kind="doc",
                role="chunk",
                lang=entry.lang,
                title=entry.title,
                text=text,
                sparse_text=f"{entry.title}\n{text}",
            )
        )
    return out


def passages_of(entry: Entry, policy: ChunkPolicy) -> list[Passage]:
    if isinstance(entry, FaqEntry):
        return faq_passages(entry)
    return doc_passages(entry, policy)


def _with_vectors(passages: list[Passage], vectors: dict[str, np.ndarray]) -> list[IndexedPassage]:
    out: list[IndexedPassage] = []
    questions = [vectors[p.key] for p in passages if p.role == "question"]
    for p in passages:
        if p.role == "centroid":
            vec = l2_normalize(np.mean(questions, axis=0, keepdims=True))[0]
        else:
            vec = vectors[p.key]
        out.append(IndexedPassage(passage=p, vector=vec, tokens=tuple(tokenize(p.sparse_text))))
    return out


async def index_entries(
    entries: Sequence[Entry],
    *,
    embedder: AsyncEmbedder,
    policy: ChunkPolicy,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> list[EntryChange]:
    """Passages with vectors and tokens for each entry. `progress(n)` is called after each
    batch with the number of passages embedded in it."""
    per_entry = [passages_of(e, policy) for e in entries]
    todo = [p for ps in per_entry for p in ps if p.role != "centroid"]
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        vecs = await embedder.embed([p.text for p in batch])
        for p, v in zip(batch, vecs, strict=True):
            vectors[f"{p.entry_id}\x1f{p.key}"] = v
        if progress is not None:
            progress(len(batch))
    changes: list[EntryChange] = []
    for entry, ps in zip(entries, per_entry, strict=True):
        own = {p.key: vectors[f"{p.entry_id}\x1f{p.key}"] for p in ps if p.role != "centroid"}
        passages = tuple(_with_vectors(ps, own))
        changes.append(EntryChange(entry=entry, digest=entry_digest(entry), passages=passages))
    return changes
