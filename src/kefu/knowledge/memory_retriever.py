"""The in-process retriever: per tenant and language, a dense index (numpy, or faiss IVF for
large partitions) and a BM25 index (bm25s over jieba / word tokens).

Partitions are immutable: a change builds new indexes in a worker thread and swaps them in,
so searches never wait for a writer and never see half an update. The vectors come from
the store of record (a restart does not re-embed)."""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from kefu.knowledge.dense import DenseIndex, Rows
from kefu.knowledge.model import (
    ChangeSet,
    IndexedPassage,
    Passage,
    PassageScore,
    SearchQuery,
    SearchResult,
)
from kefu.knowledge.sparse import SparseIndex
from kefu.nlu.base import Vectors


@dataclass(frozen=True, slots=True, eq=False)
class _Partition:
    """Row i is passages[i], dense.vectors[i], tokens[i]. BM25 text is not kept (the tokens
    are), so a passage costs its vector, its tokens and what is shown."""

    passages: tuple[Passage, ...]
    tokens: tuple[tuple[str, ...], ...]
    rows_of: dict[str, Rows]
    dense: DenseIndex
    sparse: SparseIndex


def _slim(p: Passage) -> Passage:
    return replace(p, title=sys.intern(p.title), sparse_text="")


def _build(
    passages: Sequence[Passage],
    matrix: Vectors,
    tokens: Sequence[tuple[str, ...]],
    *,
    ivf_min: int,
    nprobe: int,
    previous: _Partition | None,
) -> _Partition:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(passages):
        rows[p.entry_id].append(i)
    return _Partition(
        passages=tuple(passages),
        tokens=tuple(tokens),
        rows_of={e: np.asarray(r, dtype=np.int64) for e, r in rows.items()},
        dense=DenseIndex(
            matrix, ivf_min=ivf_min, nprobe=nprobe, previous=previous.dense if previous else None
        ),
        sparse=SparseIndex(tokens),
    )


@dataclass(slots=True)
class _Pending:
    """A partition being rebuilt: kept rows of the old one plus new passages."""

    passages: list[Passage] = field(default_factory=list)
    tokens: list[tuple[str, ...]] = field(default_factory=list)
    blocks: list[Vectors] = field(default_factory=list)

    def add_old(self, part: _Partition, keep: Rows) -> None:
        self.passages.extend(part.passages[int(i)] for i in keep)
        self.tokens.extend(part.tokens[int(i)] for i in keep)
        self.blocks.append(part.dense.vectors[keep])

    def add_new(self, items: Sequence[IndexedPassage]) -> None:
        self.passages.extend(_slim(it.passage) for it in items)
        self.tokens.extend(tuple(sys.intern(t) for t in it.tokens) for it in items)
        if items:
            self.blocks.append(np.vstack([it.vector for it in items]).astype(np.float32))

    def matrix(self) -> Vectors:
        blocks = [b for b in self.blocks if len(b)]
        if not blocks:
            return np.zeros((0, 1), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)


def _search(part: _Partition, query: SearchQuery) -> tuple[list[PassageScore], float]:
    d_rows, _ = part.dense.search(query.vector, query.k)
    s_rows, s_scores, all_sparse = part.sparse.search(query.tokens, query.k)
    passages = part.passages
    entries = dict.fromkeys(passages[int(r)].entry_id for r in (*d_rows, *s_rows))
    if not entries:
        return [], 0.0
    rows = np.concatenate([part.rows_of[e] for e in entries])
    dense = part.dense.scores_of(rows, query.vector)
    out = [
        PassageScore(passage=passages[int(r)], dense=float(d), sparse=float(all_sparse[r]))
        for r, d in zip(rows, dense, strict=True)
    ]
    return out, float(s_scores[0]) if len(s_scores) else 0.0


class InMemoryRetriever:
    def __init__(self, *, ivf_min: int = 20_000, nprobe: int = 24) -> None:
        self._ivf_min = ivf_min
        self._nprobe = nprobe
        self._parts: dict[str, dict[str, _Partition]] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def persistent(self) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._parts.clear()

    async def load(self, tenant: str, passages: Sequence[IndexedPassage]) -> None:
        async with self._locks[tenant]:
            pending: dict[str, _Pending] = defaultdict(_Pending)
            by_lang: dict[str, list[IndexedPassage]] = defaultdict(list)
            for p in passages:
                by_lang[p.passage.lang].append(p)
            for lang, items in by_lang.items():
                pending[lang].add_new(items)
            old = self._parts.get(tenant, {})
            self._parts[tenant] = await self._build_all(pending, old)

    async def apply(self, tenant: str, changes: ChangeSet) -> None:
        if changes.empty:
            return
        async with self._locks[tenant]:
            gone = set(changes.deletes) | {c.entry.id for c in changes.upserts}
            old = self._parts.get(tenant, {})
            pending: dict[str, _Pending] = {}
            for lang, part in old.items():
                if any(e in part.rows_of for e in gone):
                    keep = np.asarray(
                        [i for i, p in enumerate(part.passages) if p.entry_id not in gone],
                        dtype=np.int64,
                    )
                    pending[lang] = _Pending()
                    pending[lang].add_old(part, keep)
            new: dict[str, list[IndexedPassage]] = defaultdict(list)
            for change in changes.upserts:
                for it in change.passages:
                    new[it.passage.lang].append(it)
            for lang, items in new.items():
                if lang not in pending:
                    pending[lang] = _Pending()
                    if lang in old:
                        pending[lang].add_old(old[lang], np.arange(len(old[lang].passages)))
                pending[lang].add_new(items)
            merged = {k: v for k, v in old.items() if k not in pending}
            merged.update(await self._build_all(pending, old))
            self._parts[tenant] = merged

    async def _build_all(
        self, pending: dict[str, _Pending], old: dict[str, _Partition]
    ) -> dict[str, _Partition]:
        out: dict[str, _Partition] = {}
        for lang, p in pending.items():
            if p.passages:
                out[lang] = await asyncio.to_thread(
                    _build,
                    p.passages,
                    p.matrix(),
                    p.tokens,
                    ivf_min=self._ivf_min,
                    nprobe=self._nprobe,
                    previous=old.get(lang),
                )
        return out

    async def search(self, tenant: str, query: SearchQuery) -> SearchResult:
        parts = self._parts.get(tenant, {})
        chosen = [parts[query.lang]] if query.lang in parts else list(parts.values())
        found: list[PassageScore] = []
        top = 0.0
        for part in chosen:
            passages, best = _search(part, query)
            found.extend(passages)
            top = max(top, best)
        lang = query.lang if query.lang in parts else ""
        return SearchResult(passages=tuple(found), sparse_top=top, lang=lang)

    async def count(self, tenant: str) -> int:
        return sum(len(p.passages) for p in self._parts.get(tenant, {}).values())
