"""The Milvus retriever, on milvus-lite (a local file): the shared retriever conformance
suite, and the knowledge base answering from it. Skips when pymilvus / milvus-lite cannot
run here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from kefu.dialogue.sql_store import make_engine
from kefu.knowledge.answerer import KbAnswerer
from kefu.knowledge.milvus_retriever import MilvusRetriever
from kefu.knowledge.model import FaqEntry
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import AnswerPolicy, KnowledgeSettings
from kefu.knowledge.sql_store import SqlKbStore
from kefu.testing.knowledge import FakeEmbedder
from kefu.testing.retriever_conformance import RetrieverConformance

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusRetriever]:
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    path = tmp_path_factory.mktemp("milvus") / "kb.db"
    retriever = MilvusRetriever(uri=str(path), collection="kefu_kb_test", timeout_s=30)
    try:
        asyncio.run(retriever.start())
    except Exception as exc:  # milvus-lite needs a platform it supports
        pytest.skip(f"milvus-lite cannot run here: {exc}")
    yield retriever
    asyncio.run(retriever.close())


class TestMilvusRetriever(RetrieverConformance):
    @pytest.fixture
    def retriever(self, milvus: MilvusRetriever) -> MilvusRetriever:
        return milvus  # every test uses its own tenants


async def test_knowledge_base_answers_from_milvus(milvus: MilvusRetriever, tmp_path: Path) -> None:
    settings = KnowledgeSettings(seed_default_faq=False)
    kb = KnowledgeBase(
        store=SqlKbStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")),
        retriever=milvus,
        embedder=FakeEmbedder(dim=8),  # the collection of this module holds 8-d vectors
        settings=settings,
    )
    await kb.store.start()  # the retriever is shared by the module: not started again
    entries = [
        FaqEntry(id="f1", lang="zh", question="退货运费谁出", answer="质量问题由我们承担运费。"),
        FaqEntry(id="f2", lang="zh", question="发票怎么开", answer="在订单详情申请开票。"),
        FaqEntry(id="f3", lang="zh", question="SKU-X200 保修几年", answer="X200 保修两年。"),
    ]
    summary = await kb.import_entries("milvus-kb", entries)
    assert summary.added == ["f1", "f2", "f3"]
    answerer = KbAnswerer(kb, policy=AnswerPolicy(faq_threshold=0.5, suggest_threshold=0.5))
    got = await answerer.answer("发票怎么开", lang="zh", tenant="milvus-kb")
    assert got is not None and got.sources[0].id == "f2"
    assert got.replies[0].text == "在订单详情申请开票。"  # type: ignore[union-attr]
    ranked = await kb.search("milvus-kb", "SKU-X200", lang="zh")
    assert ranked[0].entry_id == "f3" and ranked[0].sparse == 1.0
    # a re-import of the same file changes nothing; a delete is live at once
    again = await kb.import_entries("milvus-kb", entries)
    assert again.unchanged == ["f1", "f2", "f3"]
    await kb.delete("milvus-kb", ["f2"])
    ranked = await kb.search("milvus-kb", "发票怎么开", lang="zh")
    assert "f2" not in [c.entry_id for c in ranked]
    await kb.store.close()
