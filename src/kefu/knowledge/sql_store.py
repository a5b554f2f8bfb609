"""The KB's store of record in SQL (SQLite file by default, PostgreSQL in production):
entries, their passages with vectors (float32 bytes) and BM25 tokens, and a version per
tenant that grows with every write (other processes poll it to reload)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu.knowledge.model import (
    ChangeSet,
    EntryKind,
    IndexedPassage,
    Passage,
    StoredEntry,
    entry_from_data,
    entry_to_data,
)
from kefu.knowledge.text import TOKENIZER_VERSION, tokenize

metadata = sa.MetaData()

entries_table = sa.Table(
    "kefu_kb_entries",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

passages_table = sa.Table(
    "kefu_kb_passages",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("entry_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(160), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("role", sa.String(12), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sparse_text", sa.Text, nullable=False),
    sa.Column("tokens", sa.Text, nullable=False),
    sa.Column("tokenizer", sa.String(16), nullable=False),
    sa.Column("embedder", sa.String(128), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

versions_table = sa.Table(
    "kefu_kb_versions",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class KbStoreError(RuntimeError):
    """The KB database failed."""


def _stored(row: Any) -> StoredEntry:
    return StoredEntry(
        entry=entry_from_data(orjson.loads(row.data)), digest=row.digest, updated_at=row.updated_at
    )


def _passage_row(tenant: str, seq: int, it: IndexedPassage, embedder: str) -> dict[str, Any]:
    p = it.passage
    return {
        "tenant": tenant,
        "entry_id": p.entry_id,
        "seq": seq,
        "key": p.key,
        "kind": p.kind,
        "role": p.role,
        "lang": p.lang,
        "title": p.title,
        "text": p.text,
        "sparse_text": p.sparse_text,
        "tokens": " ".join(it.tokens),
        "tokenizer": TOKENIZER_VERSION,
        "embedder": embedder,
        "vector": np.asarray(it.vector, dtype="<f4").tobytes(),
    }


def _indexed(row: Any) -> IndexedPassage:
    passage = Passage(
        key=row.key,
        entry_id=row.entry_id,
        kind=row.kind,
        role=row.role,
        lang=row.lang,
        title=row.title,
        text=row.text,
        sparse_text=row.sparse_text,
    )
    if row.tokenizer == TOKENIZER_VERSION:
        tokens = tuple(row.tokens.split()) if row.tokens else ()
    else:
        tokens = tuple(tokenize(row.sparse_text))
    vector = np.frombuffer(row.vector, dtype="<f4").astype(np.float32)
    return IndexedPassage(passage=passage, vector=vector, tokens=tokens)


class SqlKbStore:
    def __init__(self, engine: AsyncEngine, *, clock: Any = time.time) -> None:
        self._engine = engine
        self._clock = clock

    @asynccontextmanager
    async def _conn(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        try:
            if write:
                async with self._engine.begin() as conn:
                    yield conn
            else:
                async with self._engine.connect() as conn:
                    yield conn
        except SQLAlchemyError as exc:
            raise KbStoreError(str(exc)) from exc

    async def start(self) -> None:
        async with self._conn(write=True) as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self._engine.dispose()

    async def version(self, tenant: str) -> int:
        t = versions_table
        async with self._conn() as conn:
            v = (await conn.execute(sa.select(t.c.version).where(t.c.tenant == tenant))).scalar()
        return int(v or 0)

    async def tenants(self) -> list[str]:
        t = versions_table
        async with self._conn() as conn:
            rows = (await conn.execute(sa.select(t.c.tenant).order_by(t.c.tenant))).all()
        return [r.tenant for r in rows]

    async def digests(self, tenant: str) -> dict[str, str]:
        t = entries_table
        async with self._conn() as conn:
            q = sa.select(t.c.id, t.c.digest).where(t.c.tenant == tenant)
            rows = (await conn.execute(q)).all()
        return {r.id: r.digest for r in rows}

    async def get(self, tenant: str, entry_id: str) -> StoredEntry | None:
        t = entries_table
        async with self._conn() as conn:
            row = (
                await conn.execute(sa.select(t).where(t.c.tenant == tenant, t.c.id == entry_id))
            ).first()
        return _stored(row) if row is not None else None

    async def list_entries(
        self,
        tenant: str,
        *,
        kind: EntryKind | None = None,
        lang: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[StoredEntry], int]:
        t = entries_table
        where = [t.c.tenant == tenant]
        if kind is not None:
            where.append(t.c.kind == kind)
        if lang is not None:
            where.append(t.c.lang == lang)
        q = sa.select(t).where(*where).order_by(t.c.id).offset(offset).limit(limit)
        async with self._conn() as conn:
            rows = (await conn.execute(q)).all()
            total = (await conn.execute(sa.select(sa.func.count()).where(*where))).scalar()
        return [_stored(r) for r in rows], int(total or 0)

    async def passages(
        self, tenant: str, *, embedder: str, entry_ids: Sequence[str] | None = None
    ) -> list[IndexedPassage]:
        t = passages_table
        where = [t.c.tenant == tenant, t.c.embedder == embedder]
        rows: list[Any] = []
        async with self._conn() as conn:
            if entry_ids is None:
                q = sa.select(t).where(*where).order_by(t.c.entry_id, t.c.seq)
                rows.extend((await conn.execute(q)).all())
            else:
                ids = sorted(set(entry_ids))
                for start in range(0, len(ids), 500):
                    part = t.c.entry_id.in_(ids[start : start + 500])
                    q = sa.select(t).where(*where, part).order_by(t.c.entry_id, t.c.seq)
                    rows.extend((await conn.execute(q)).all())
        return [_indexed(r) for r in rows]

    async def stale(self, tenant: str, *, embedder: str) -> list[str]:
        """Ids of entries with vectors of another embedder (to re-embed after a change)."""
        t = passages_table
        q = sa.select(t.c.entry_id).where(t.c.tenant == tenant, t.c.embedder != embedder)
        async with self._conn() as conn:
            rows = (await conn.execute(q.distinct())).all()
        return sorted(r.entry_id for r in rows)

    async def write(
        self,
        tenant: str,
        changes: ChangeSet,
        *,
        embedder: str,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        ids = sorted({*changes.deletes, *(c.entry.id for c in changes.upserts)})
        now = float(self._clock())
        async with self._conn(write=True) as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for t, col in ((passages_table, "entry_id"), (entries_table, "id")):
                    where = sa.and_(t.c.tenant == tenant, t.c[col].in_(chunk))
                    await conn.execute(sa.delete(t).where(where))
            await self._insert(conn, tenant, changes, embedder=embedder, now=now)
            version = await self._bump(conn, tenant)
            if before_commit is not None:
                await before_commit()
        return version

    @staticmethod
    async def _insert(
        conn: AsyncConnection, tenant: str, changes: ChangeSet, *, embedder: str, now: float
    ) -> None:
        entry_rows: list[dict[str, Any]] = []
        passage_rows: list[dict[str, Any]] = []
        for c in changes.upserts:
            e = c.entry
            entry_rows.append(
                {
                    "tenant": tenant,
                    "id": e.id,
                    "kind": e.kind,
                    "lang": e.lang,
                    "category": e.category[:64],
                    "title": e.title,
                    "data": orjson.dumps(entry_to_data(e)).decode(),
                    "digest": c.digest,
                    "updated_at": now,
                }
            )
            passage_rows.extend(
                _passage_row(tenant, i, it, embedder) for i, it in enumerate(c.passages)
            )
        if entry_rows:
            await conn.execute(sa.insert(entries_table), entry_rows)
        for start in range(0, len(passage_rows), 2000):
            await conn.execute(sa.insert(passages_table), passage_rows[start : start + 2000])

    @staticmethod
    async def _bump(conn: AsyncConnection, tenant: str) -> int:
        t = versions_table
        res = await conn.execute(
            sa.update(t).where(t.c.tenant == tenant).values(version=t.c.version + 1)
        )
        if res.rowcount == 0:
            await conn.execute(sa.insert(t).values(tenant=tenant, version=1))
        v = (await conn.execute(sa.select(t.c.version).where(t.c.tenant == tenant))).scalar()
        return int(v or 0)
