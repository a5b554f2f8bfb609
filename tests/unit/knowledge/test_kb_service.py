"""Imports are idempotent and atomic, survive a restart without re-embedding, and reach
other processes; the index follows every write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.memory_retriever import InMemoryRetriever
from kefu.knowledge.model import ChangeSet, FaqEntry
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import KnowledgeSettings
from kefu.testing.knowledge import CountingEmbedder, FakeEmbedder

MakeKb = Callable[..., KnowledgeBase]
QUIET = KnowledgeSettings(seed_default_faq=False, reload_interval_s=0)


def faq(i: int, answer: str = "答案") -> FaqEntry:
    return FaqEntry(id=f"f{i}", lang="zh", question=f"问题{i} 退货运费", answer=f"{answer}{i}")


async def test_reimport_updates_by_id_and_never_duplicates(tmp_path: Path, kb_at: MakeKb) -> None:
    kb = kb_at(tmp_path / "k.db", FakeEmbedder(), QUIET)
    await kb.start()
    first = await kb.import_entries("t", [faq(1), faq(2)])
    assert (first.added, first.updated, first.unchanged) == (["f1", "f2"], [], [])
    second = await kb.import_entries("t", [faq(1), faq(2, "新答案"), faq(3)])
    assert (second.added, second.updated, second.unchanged) == (["f3"], ["f2"], ["f1"])
    entries, total = await kb.list_entries("t")
    assert total == 3 and [e.entry.id for e in entries] == ["f1", "f2", "f3"]
    stored = await kb.get("t", "f2")
    assert stored is not None and isinstance(stored.entry, FaqEntry)
    assert stored.entry.answer == "新答案2"
    pruned = await kb.import_entries("t", [faq(1)], prune=True)
    assert pruned.deleted == ["f2", "f3"]
    assert await kb.retriever.count("t") == 3  # f1: question, centroid, answer
    await kb.close()


async def test_a_restart_reuses_the_stored_vectors(tmp_path: Path, kb_at: MakeKb) -> None:
    counting = CountingEmbedder(FakeEmbedder())
    kb = kb_at(tmp_path / "k.db", counting, QUIET)
    await kb.start()
    await kb.import_entries("t", [faq(i) for i in range(20)])
    embedded = counting.texts
    assert embedded == 40  # question + answer of each entry
    await kb.close()
    again = kb_at(tmp_path / "k.db", counting, QUIET)
    await again.start()
    assert counting.texts == embedded  # nothing re-embedded
    ranked = await again.search("t", "问题7 退货运费", lang="zh")
    assert ranked[0].entry_id == "f7"
    await again.close()


async def test_another_embedder_re_embeds_the_stored_entries(tmp_path: Path, kb_at: MakeKb) -> None:
    kb = kb_at(tmp_path / "k.db", FakeEmbedder(name="old-model"), QUIET)
    await kb.start()
    await kb.import_entries("t", [faq(1), faq(2)])
    await kb.close()
    new = CountingEmbedder(FakeEmbedder(name="new-model"))
    again = kb_at(tmp_path / "k.db", new, QUIET)
    await again.start()
    assert new.texts == 4
    assert await again.store.stale("t", embedder="new-model") == []
    assert (await again.search("t", "问题2 退货运费", lang="zh"))[0].entry_id == "f2"
    await again.close()


class BrokenRetriever(InMemoryRetriever):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def apply(self, tenant: str, changes: ChangeSet) -> None:
        await super().apply(tenant, changes)
        if self.fail:
            raise RuntimeError("index write failed half-way")


async def test_a_failed_import_leaves_nothing_behind(tmp_path: Path, kb_at: MakeKb) -> None:
    from kefu.dialogue.sql_store import make_engine
    from kefu.knowledge.sql_store import SqlKbStore

    retriever = BrokenRetriever()
    kb = KnowledgeBase(
        store=SqlKbStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")),
        retriever=retriever,
        embedder=FakeEmbedder(),
        settings=QUIET,
    )
    await kb.start()
    await kb.import_entries("t", [faq(1)])
    version = await kb.store.version("t")
    retriever.fail = True
    with pytest.raises(RuntimeError, match="half-way"):
        await kb.import_entries("t", [faq(1, "改了"), faq(2), faq(3)])
    assert await kb.store.version("t") == version
    assert sorted(await kb.store.digests("t")) == ["f1"]
    stored = await kb.get("t", "f1")
    assert stored is not None and stored.entry.answer == "答案1"  # type: ignore[union-attr]
    # the index got its old state back
    retriever.fail = False
    assert await retriever.count("t") == 3
    ranked = await kb.search("t", "问题2 退货运费", lang="zh")
    assert "f2" not in [c.entry_id for c in ranked]
    await kb.close()


async def test_a_server_sees_an_import_made_by_another_process(
    tmp_path: Path, kb_at: MakeKb
) -> None:
    embedder: AsyncEmbedder = FakeEmbedder()
    server = kb_at(tmp_path / "k.db", embedder, QUIET)
    cli = kb_at(tmp_path / "k.db", embedder, QUIET)
    await server.start()
    await cli.start()
    assert await server.search("t", "问题5 退货运费", lang="zh") == []
    await cli.import_entries("t", [faq(5)])
    await server.ensure_fresh("t")  # notices the new version, reloads in the background
    for _ in range(100):
        if await server.retriever.count("t"):
            break
        await asyncio.sleep(0.01)
    assert (await server.search("t", "问题5 退货运费", lang="zh"))[0].entry_id == "f5"
    await cli.close()
    await server.close()


async def test_delete_reports_what_existed(tmp_path: Path, kb_at: MakeKb) -> None:
    kb = kb_at(tmp_path / "k.db", FakeEmbedder(), QUIET)
    await kb.start()
    await kb.import_entries("t", [faq(1), faq(2)])
    assert await kb.delete("t", ["f2", "nope"]) == ["f2"]
    assert await kb.delete("t", ["nope"]) == []
    assert [c.entry_id for c in await kb.search("t", "问题2 退货运费", lang="zh")] == ["f1"]
    await kb.close()
