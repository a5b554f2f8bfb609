"""The knowledge base of all tenants: writes (import, add, update, delete) go to the store of
record and the search index together; reads keep the index in step with other processes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from kefu.knowledge.base import AsyncEmbedder, KbStore, Retriever
from kefu.knowledge.indexing import ChunkPolicy, Progress, index_entries, passages_of
from kefu.knowledge.model import (
    Candidate,
    ChangeSet,
    Entry,
    EntryChange,
    EntryKind,
    IndexedPassage,
    StoredEntry,
    entry_digest,
)
from kefu.knowledge.parsing import parse_bytes
from kefu.knowledge.retrieval import HybridSearcher, RerankStage
from kefu.knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
DEFAULT_FAQ_FILES = ("data/faq-zh.yaml", "data/faq-en.yaml")
Status = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportPlan:
    added: tuple[Entry, ...] = ()
    updated: tuple[Entry, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def to_index(self) -> tuple[Entry, ...]:
        return self.added + self.updated


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    version: int = 0


def default_faq() -> list[Entry]:
    """kefu's shipped FAQ (zh + en)."""
    out: list[Entry] = []
    for name in DEFAULT_FAQ_FILES:
        data = resources.files("kefu.knowledge").joinpath(name).read_bytes()
        out.extend(r.entry for r in parse_bytes(data, name=name, kind="faq").rows)
    return out


class KnowledgeBase:
    def __init__(
        self,
        *,
        store: KbStore,
        retriever: Retriever,
        embedder: AsyncEmbedder,
        settings: KnowledgeSettings,
        rerank: RerankStage | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.embedder = embedder
        self.settings = settings
        self.searcher = HybridSearcher(
            retriever=retriever,
            embedder=embedder,
            weights=settings.weights,
            top_k=settings.top_k,
            rerank=rerank,
        )
        self.chunking = ChunkPolicy(size=settings.chunk_chars, overlap=settings.chunk_overlap)
        self._clock = clock
        self._known: dict[str, int] = {}
        self._checked: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._reloads: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[str], None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.start()
        await self.retriever.start()
        if self.settings.seed_default_faq and await self.store.version(DEFAULT_TENANT) == 0:
            await self.seed_default_faq()
        for tenant in await self.store.tenants():
            await self.refresh(tenant)

    async def close(self) -> None:
        for task in self._reloads.values():
            task.cancel()
        self._reloads.clear()
        await self.retriever.close()
        await self.store.close()

    async def seed_default_faq(self, tenant: str = DEFAULT_TENANT) -> ImportSummary:
        """Import kefu's default FAQ, with the vectors shipped for it when they match."""
        from kefu.knowledge.default_vectors import with_default_vectors

        entries = default_faq()
        plan = await self.plan(tenant, entries)
        summary = await self.apply_plan(tenant, plan, embedder=with_default_vectors(self.embedder))
        log.info("knowledge.seeded tenant=%s entries=%d", tenant, len(summary.added))
        return summary

    def on_change(self, listener: Callable[[str], None]) -> None:
        """`listener(tenant)` runs whenever the tenant's KB is seen to change."""
        self._listeners.append(listener)

    def _set_version(self, tenant: str, version: int) -> None:
        if self._known.get(tenant) != version:
            self._known[tenant] = version
            for listener in self._listeners:
                listener(tenant)

    # -- keeping the index in step -------------------------------------------------------

    async def refresh(self, tenant: str) -> None:
        """Re-embed entries of another embedder, then (in-process index) load the tenant."""
        async with self._locks[tenant]:
            stale = await self.store.stale(tenant, embedder=self.embedder.name)
            if stale:
                log.warning("knowledge.reembedding tenant=%s entries=%d", tenant, len(stale))
                entries = [s.entry for s in await self._stored(tenant, stale)]
                changes = await index_entries(entries, embedder=self.embedder, policy=self.chunking)
                await self._write(tenant, ChangeSet(upserts=tuple(changes)))
            version = await self.store.version(tenant)
            if not self.retriever.persistent:
                passages = await self.store.passages(tenant, embedder=self.embedder.name)
                await self.retriever.load(tenant, passages)
            self._set_version(tenant, version)

    async def ensure_fresh(self, tenant: str) -> int:
        """The tenant's KB version as served, after (at most every `reload_interval_s`)
        checking the store for changes made by other processes."""
        known = self._known.get(tenant)
        now = self._clock()
        if known is not None and now - self._checked.get(tenant, -1e18) < (
            self.settings.reload_interval_s
        ):
            return known
        self._checked[tenant] = now
        current = await self.store.version(tenant)
        if known is None:
            await self.refresh(tenant)
        elif current != known:
            if self.retriever.persistent:
                self._set_version(tenant, current)
            elif tenant not in self._reloads or self._reloads[tenant].done():
                self._reloads[tenant] = asyncio.create_task(self.refresh(tenant))
        return self._known.get(tenant, current)

    # -- writes ----------------------------------------------------------------------------

    async def _stored(self, tenant: str, ids: Sequence[str]) -> list[StoredEntry]:
        found = [await self.store.get(tenant, i) for i in ids]
        return [s for s in found if s is not None]

    async def _write(self, tenant: str, changes: ChangeSet) -> int:
        """Store and index together (caller holds the tenant's lock). If indexing fails,
        the store rolls back and the index gets the old state of those entries back."""
        touched = sorted({*changes.deletes, *(c.entry.id for c in changes.upserts)})
        before = await self._snapshot(tenant, touched)

        async def index() -> None:
            await self.retriever.apply(tenant, changes)

        try:
            version = await self.store.write(
                tenant, changes, embedder=self.embedder.name, before_commit=index
            )
        except BaseException:
            restore = ChangeSet(
                upserts=before, deletes=tuple(set(touched) - {c.entry.id for c in before})
            )
            try:
                await self.retriever.apply(tenant, restore)
            except Exception as exc:  # the index is reloaded from the store on next start
                log.error("knowledge.index_restore_failed tenant=%s error=%s", tenant, exc)
            raise
        self._set_version(tenant, version)
        return version

    async def _snapshot(self, tenant: str, ids: Sequence[str]) -> tuple[EntryChange, ...]:
        stored = await self._stored(tenant, ids)
        if not stored:
            return ()
        passages = await self.store.passages(tenant, embedder=self.embedder.name, entry_ids=ids)
        by_entry: dict[str, list[IndexedPassage]] = defaultdict(list)
        for p in passages:
            by_entry[p.passage.entry_id].append(p)
        return tuple(
            EntryChange(entry=s.entry, digest=s.digest, passages=tuple(by_entry[s.entry.id]))
            for s in stored
        )

    async def plan(
        self, tenant: str, entries: Sequence[Entry], *, prune: bool = False
    ) -> ImportPlan:
        """What an import would do: same id and same content is unchanged, same id and other
        content an update. With `prune`, entries not in `entries` are deleted."""
        digests = await self.store.digests(tenant)
        added: list[Entry] = []
        updated: list[Entry] = []
        unchanged: list[str] = []
        for e in entries:
            old = digests.get(e.id)
            if old is None:
                added.append(e)
            elif old != entry_digest(e):
                updated.append(e)
            else:
                unchanged.append(e.id)
        ids = {e.id for e in entries}
        deleted = tuple(sorted(i for i in digests if i not in ids)) if prune else ()
        return ImportPlan(
            added=tuple(added), updated=tuple(updated), unchanged=tuple(unchanged), deleted=deleted
        )

    def passage_count(self, entries: Sequence[Entry]) -> int:
        """Passages to embed for `entries` (the unit of `progress`)."""
        return sum(
            sum(p.role != "centroid" for p in passages_of(e, self.chunking)) for e in entries
        )

    async def apply_plan(
        self,
        tenant: str,
        plan: ImportPlan,
        *,
        progress: Progress | None = None,
        embedder: AsyncEmbedder | None = None,
    ) -> ImportSummary:
        """Embed, then write everything in one transaction (nothing is written if embedding
        or writing fails or is interrupted)."""
        changes = await index_entries(
            plan.to_index,
            embedder=embedder or self.embedder,
            policy=self.chunking,
            progress=progress,
            batch_size=self.settings.embedding.batch_size,
        )
        change_set = ChangeSet(upserts=tuple(changes), deletes=plan.deleted)
        async with self._locks[tenant]:
            version = (
                await self._write(tenant, change_set)
                if not change_set.empty
                else await self.store.version(tenant)
            )
        return ImportSummary(
            added=[e.id for e in plan.added],
            updated=[e.id for e in plan.updated],
            unchanged=list(plan.unchanged),
            deleted=list(plan.deleted),
            version=version,
        )

    async def import_entries(
        self,
        tenant: str,
        entries: Sequence[Entry],
        *,
        prune: bool = False,
        progress: Progress | None = None,
    ) -> ImportSummary:
        plan = await self.plan(tenant, entries, prune=prune)
        return await self.apply_plan(tenant, plan, progress=progress)

    async def upsert(self, tenant: str, entry: Entry) -> Status:
        summary = await self.import_entries(tenant, [entry])
        return "added" if summary.added else "updated" if summary.updated else "unchanged"

    async def delete(self, tenant: str, ids: Sequence[str]) -> list[str]:
        """Delete entries; returns the ids that existed."""
        async with self._locks[tenant]:
            digests = await self.store.digests(tenant)
            present = sorted({i for i in ids if i in digests})
            if present:
                await self._write(tenant, ChangeSet(deletes=tuple(present)))
        return present

    # -- reads -----------------------------------------------------------------------------

    async def get(self, tenant: str, entry_id: str) -> StoredEntry | None:
        return await self.store.get(tenant, entry_id)

    async def list_entries(
        self,
        tenant: str,
        *,
        kind: EntryKind | None = None,
        lang: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[StoredEntry], int]:
        return await self.store.list_entries(
            tenant, kind=kind, lang=lang, offset=offset, limit=limit
        )

    async def search(
        self, tenant: str, text: str, *, lang: str, limit: int = 10
    ) -> list[Candidate]:
        await self.ensure_fresh(tenant)
        return (await self.searcher.rank(tenant, text, lang=lang))[:limit]
