"""Conformance suite every `Retriever` backend must pass (in-process, Milvus ...).

Subclass it in a test module and provide a `retriever` fixture that yields a started
retriever with nothing indexed for the tenants used here::

    class TestMilvusRetriever(RetrieverConformance):
        @pytest.fixture
        async def retriever(self, tmp_path): ...

Vectors are hand-made 8-d unit vectors, so the suite needs no model.
"""

from __future__ import annotations

import uuid

import numpy as np

from kefu.knowledge.base import Retriever
from kefu.knowledge.model import (
    ChangeSet,
    DocEntry,
    EntryChange,
    EntryKind,
    FaqEntry,
    IndexedPassage,
    Passage,
    Role,
    SearchQuery,
    SearchResult,
)
from kefu.knowledge.text import tokenize
from kefu.nlu.base import Vectors

DIM = 8


def unit(*weights: float) -> Vectors:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    out: Vectors = v / np.linalg.norm(v)
    return out


def passage(
    entry_id: str,
    n: int,
    text: str,
    vec: Vectors,
    *,
    role: Role = "question",
    lang: str = "zh",
    sparse: str = "",
) -> IndexedPassage:
    kind: EntryKind = "doc" if role in ("chunk", "title") else "faq"
    p = Passage(
        key=f"{entry_id}#{n}",
        entry_id=entry_id,
        kind=kind,
        role=role,
        lang=lang,
        title=text,
        text=text,
        sparse_text=sparse,
    )
    return IndexedPassage(passage=p, vector=vec, tokens=tuple(tokenize(sparse)))


def faq(
    entry_id: str, question: str, vec: Vectors, *, lang: str = "zh", extra: str = ""
) -> EntryChange:
    """An FAQ entry with one question passage and one answer passage carrying BM25 text."""
    entry = FaqEntry(id=entry_id, lang=lang, question=question, answer=f"answer {entry_id}")
    passages = (
        passage(entry_id, 0, question, vec, lang=lang),
        passage(
            entry_id,
            1,
            entry.answer,
            unit(0, 0, 0, 0, 0, 0, 0, 1),
            role="answer",
            lang=lang,
            sparse=f"{question} {extra}",
        ),
    )
    return EntryChange(entry=entry, digest=uuid.uuid4().hex, passages=passages)


def doc(entry_id: str, chunks: list[tuple[str, Vectors]], *, lang: str = "zh") -> EntryChange:
    content = "\n".join(t for t, _ in chunks)
    entry = DocEntry(id=entry_id, lang=lang, title=entry_id, content=content)
    passages = tuple(
        passage(entry_id, i, t, v, role="chunk", lang=lang, sparse=t)
        for i, (t, v) in enumerate(chunks)
    )
    return EntryChange(entry=entry, digest=uuid.uuid4().hex, passages=passages)


def query(text: str, vec: Vectors, *, lang: str = "zh", k: int = 5) -> SearchQuery:
    return SearchQuery(text=text, lang=lang, vector=vec, tokens=tuple(tokenize(text)), k=k)


def entry_ids(result: SearchResult) -> list[str]:
    """Entry ids by best dense score."""
    best: dict[str, float] = {}
    for s in result.passages:
        best[s.passage.entry_id] = max(best.get(s.passage.entry_id, -2.0), s.dense)
    return sorted(best, key=lambda e: -best[e])


def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


FAQS = [
    faq("ship", "多久发货", unit(1, 0, 0), extra="发货 时效"),
    faq("refund", "退款多久到账", unit(0, 1, 0), extra="退款 到账"),
    faq("sku", "X200 耳机保修", unit(0, 0, 1), extra="SKU-A123 耳机 保修"),
]


class RetrieverConformance:
    async def test_empty_tenant_finds_nothing(self, retriever: Retriever) -> None:
        result = await retriever.search(tenant(), query("多久发货", unit(1, 0, 0)))
        assert result.passages == ()
        assert await retriever.count(tenant()) == 0

    async def test_nearest_vector_ranks_first(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        result = await retriever.search(t, query("什么时候寄出", unit(0.9, 0.1, 0)))
        assert entry_ids(result)[0] == "ship"
        best = max(s.dense for s in result.passages if s.passage.entry_id == "ship")
        assert abs(best - float(unit(0.9, 0.1, 0) @ unit(1, 0, 0))) < 0.02

    async def test_exact_sku_hits_by_bm25(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        # the vector points at "ship"; only the SKU in the text leads to "sku"
        result = await retriever.search(t, query("SKU-A123", unit(1, 0, 0)))
        hits = {s.passage.entry_id: s.sparse for s in result.passages}
        assert hits.get("sku", 0) > 0
        assert result.sparse_top == max(hits.values())
        assert max(hits, key=lambda e: hits[e]) == "sku"

    async def test_every_passage_of_a_candidate_comes_back(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        result = await retriever.search(t, query("多久发货", unit(1, 0, 0), k=1))
        keys = {s.passage.key for s in result.passages if s.passage.entry_id == "ship"}
        assert keys == {"ship#0", "ship#1"}
        roles = {s.passage.role for s in result.passages if s.passage.entry_id == "ship"}
        assert roles == {"question", "answer"}

    async def test_tenants_never_see_each_other(self, retriever: Retriever) -> None:
        a, b = tenant(), tenant()
        await retriever.apply(a, ChangeSet(upserts=(FAQS[0],)))
        await retriever.apply(b, ChangeSet(upserts=(FAQS[1],)))
        assert entry_ids(await retriever.search(a, query("退款", unit(0, 1, 0)))) == ["ship"]
        assert entry_ids(await retriever.search(b, query("发货", unit(1, 0, 0)))) == ["refund"]

    async def test_questions_search_their_language_first(self, retriever: Retriever) -> None:
        t = tenant()
        en = faq("ship-en", "when do you ship", unit(1, 0, 0), lang="en")
        await retriever.apply(t, ChangeSet(upserts=(FAQS[0], en)))
        zh = await retriever.search(t, query("多久发货", unit(1, 0, 0), lang="zh"))
        assert entry_ids(zh) == ["ship"]
        assert zh.lang == "zh"
        # no Japanese entries: every language is searched
        ja = await retriever.search(t, query("発送", unit(1, 0, 0), lang="ja"))
        assert set(entry_ids(ja)) == {"ship", "ship-en"}

    async def test_upsert_replaces_all_passages_of_an_entry(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        before = await retriever.count(t)
        moved = faq("ship", "多久发货", unit(0, 0, 0, 1))
        await retriever.apply(t, ChangeSet(upserts=(moved,)))
        assert await retriever.count(t) == before
        result = await retriever.search(t, query("x", unit(0, 0, 0, 1), k=1))
        assert entry_ids(result)[0] == "ship"
        old = await retriever.search(t, query("x", unit(1, 0, 0), k=1))
        assert "ship" not in entry_ids(old)[:1]

    async def test_applying_the_same_change_twice_changes_nothing(
        self, retriever: Retriever
    ) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        count = await retriever.count(t)
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        assert await retriever.count(t) == count == 6

    async def test_deleted_entries_are_gone(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        await retriever.apply(t, ChangeSet(deletes=("ship", "missing")))
        result = await retriever.search(t, query("多久发货", unit(1, 0, 0)))
        assert "ship" not in entry_ids(result)
        assert await retriever.count(t) == 4

    async def test_load_replaces_the_tenant(self, retriever: Retriever) -> None:
        t = tenant()
        await retriever.apply(t, ChangeSet(upserts=tuple(FAQS)))
        chunks = [("第一段 保修一年", unit(1, 1, 0)), ("第二段 上门维修", unit(0, 1, 1))]
        await retriever.load(t, list(doc("policy", chunks).passages))
        result = await retriever.search(t, query("保修", unit(1, 1, 0)))
        assert entry_ids(result) == ["policy"]
        assert {s.passage.kind for s in result.passages} == {"doc"}
        assert await retriever.count(t) == 2
