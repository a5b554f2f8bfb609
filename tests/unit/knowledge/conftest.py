"""Knowledge fixtures: one sentence encoder per test session (memoised by text), and a
knowledge base on a fresh SQLite file seeded with kefu's default FAQ (shipped vectors)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kefu.dialogue.sql_store import make_engine
from kefu.knowledge.answerer import KbAnswerer
from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.cache import AnswerCache
from kefu.knowledge.embedding import ThreadedEmbedder
from kefu.knowledge.memory_retriever import InMemoryRetriever
from kefu.knowledge.metrics import KnowledgeMetrics
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import KnowledgeSettings
from kefu.knowledge.sql_store import SqlKbStore
from kefu.testing.knowledge import MemoEmbedder


@pytest.fixture(scope="session")
def encoder() -> AsyncEmbedder:
    """The embedded USE model (loaded once), remembering every text it embedded."""
    from kefu.nlu.embedder import shared_use_embedder

    threaded = ThreadedEmbedder(shared_use_embedder(1, 256))
    threaded.embed_sync(["warm up"])
    return MemoEmbedder(threaded)


def make_kb(
    path: Path, embedder: AsyncEmbedder, settings: KnowledgeSettings | None = None
) -> KnowledgeBase:
    return KnowledgeBase(
        store=SqlKbStore(make_engine(f"sqlite+aiosqlite:///{path}")),
        retriever=InMemoryRetriever(),
        embedder=embedder,
        settings=settings or KnowledgeSettings(reload_interval_s=0),
    )


MakeKb = Callable[..., KnowledgeBase]


@pytest.fixture
def kb_at() -> MakeKb:
    """`kb_at(path, embedder, settings=None)`: a knowledge base on that SQLite file."""
    return make_kb


@pytest.fixture
async def kb(tmp_path: Path, encoder: AsyncEmbedder) -> AsyncIterator[KnowledgeBase]:
    base = make_kb(tmp_path / "knowledge.db", encoder)
    await base.start()  # seeds the default FAQ into tenant "default"
    yield base
    await base.close()


@pytest.fixture
def metrics() -> KnowledgeMetrics:
    return KnowledgeMetrics()


@pytest.fixture
def answerer(kb: KnowledgeBase, metrics: KnowledgeMetrics) -> KbAnswerer:
    settings = kb.settings
    return KbAnswerer(
        kb, policy=settings.policy, cache=AnswerCache(settings.cache), metrics=metrics
    )
