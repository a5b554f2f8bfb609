"""The audit log's tables on SQLAlchemy async (SQLite file by default, PostgreSQL).

`kefu_audit_log` holds the records, primary key (tenant, seq). `kefu_audit_chains` holds
one row per tenant chain: its head (newest seq and hash) and its retention checkpoint
(base). Every write transaction first locks the chain rows it touches, in tenant order, with
`UPDATE ... RETURNING` (a row lock on PostgreSQL, the database write lock on SQLite), then
numbers and hashes its records from the head it read: writers in several processes thus
append one after another and the chain stays gap-free. The API never updates a record:
it appends, erases payloads (keeping their digests) and purges a chain's oldest records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu.audit.model import (
    ERASE_KIND,
    GENESIS_HASH,
    AuditFilter,
    AuditRecord,
    ChainHead,
    NewEntry,
    make_entry,
    to_us,
)

metadata = sa.MetaData()

log_table = sa.Table(
    "kefu_audit_log",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts_us", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_kefu_audit_log_ts", "tenant", "ts_us"),
    sa.Index("ix_kefu_audit_log_subject", "subject"),
)

chains_table = sa.Table(
    "kefu_audit_chains",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("base_seq", sa.BigInteger, nullable=False),
    sa.Column("base_hash", sa.String(64), nullable=False),
)

_c = chains_table.c
_lock_head = (
    chains_table.update()
    .where(_c.tenant == sa.bindparam("b_tenant"))
    .values(head_seq=_c.head_seq)
    .returning(_c.tenant, _c.head_seq, _c.head_hash, _c.base_seq, _c.base_hash)
)


class AuditStoreError(RuntimeError):
    """The audit database failed."""


class AuditStore(Protocol):
    """Where audit records live (see `SqlAuditStore` for the semantics)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def append(self, entries: Sequence[NewEntry]) -> list[AuditRecord]: ...
    async def heads(self, tenant: str | None = None) -> list[ChainHead]: ...
    async def page(
        self,
        tenant: str,
        flt: AuditFilter = ...,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 1000,
        descending: bool = False,
    ) -> list[AuditRecord]: ...
    async def purge_boundary(self, head: ChainHead, cutoff_us: int) -> int: ...
    async def truncate(
        self, tenant: str, *, base_seq: int, upto_seq: int, upto_hash: str | None
    ) -> int: ...
    async def erase(
        self, subject: str, *, tenant: str | None, actor: str, ts_us: int
    ) -> dict[str, list[int]]: ...


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        tenant=row.tenant,
        seq=row.seq,
        ts_us=row.ts_us,
        kind=row.kind,
        actor=row.actor,
        subject=row.subject,
        payload_json=row.payload,
        payload_sha256=row.payload_sha256,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _head(row: Any) -> ChainHead:
    return ChainHead(
        tenant=row.tenant,
        head_seq=row.head_seq,
        head_hash=row.head_hash,
        base_seq=row.base_seq,
        base_hash=row.base_hash,
    )


async def _lock_heads(conn: AsyncConnection, tenants: Sequence[str]) -> dict[str, ChainHead]:
    """Lock the chains (creating missing ones) in sorted order, so writers never deadlock."""
    heads: dict[str, ChainHead] = {}
    for tenant in sorted(set(tenants)):
        row = (await conn.execute(_lock_head, {"b_tenant": tenant})).first()
        if row is None:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            new = insert(chains_table).values(
                tenant=tenant,
                head_seq=0,
                head_hash=GENESIS_HASH,
                base_seq=0,
                base_hash=GENESIS_HASH,
            )
            await conn.execute(new.on_conflict_do_nothing())
            row = (await conn.execute(_lock_head, {"b_tenant": tenant})).one()
        heads[tenant] = _head(row)
    return heads


async def _append_locked(
    conn: AsyncConnection, head: ChainHead, entries: Sequence[NewEntry]
) -> list[AuditRecord]:
    """Number and hash `entries` after the locked `head`, insert them and move the head."""
    records: list[AuditRecord] = []
    seq, prev = head.head_seq, head.head_hash
    for e in entries:
        seq += 1
        rec = AuditRecord(
            tenant=head.tenant,
            seq=seq,
            ts_us=e.ts_us,
            kind=e.kind,
            actor=e.actor,
            subject=e.subject,
            payload_json=e.payload_json,
            payload_sha256=e.payload_sha256,
            prev_hash=prev,
            hash="",
        )
        rec = replace(rec, hash=rec.computed_hash())
        records.append(rec)
        prev = rec.hash
    await conn.execute(
        log_table.insert(),
        [
            {
                "tenant": r.tenant,
                "seq": r.seq,
                "ts_us": r.ts_us,
                "kind": r.kind,
                "actor": r.actor,
                "subject": r.subject,
                "payload": r.payload_json,
                "payload_sha256": r.payload_sha256,
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            }
            for r in records
        ],
    )
    await conn.execute(
        chains_table.update().where(_c.tenant == head.tenant).values(head_seq=seq, head_hash=prev)
    )
    return records


class SqlAuditStore:
    """The audit tables. The engine belongs to the caller unless `dispose_engine`."""

    def __init__(self, engine: AsyncEngine, *, dispose_engine: bool = False) -> None:
        self._engine = engine
        self._dispose = dispose_engine

    @asynccontextmanager
    async def _conn(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        try:
            if write:
                async with self._engine.begin() as conn:
                    yield conn
            else:
                async with self._engine.connect() as conn:
                    yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise AuditStoreError(str(exc)) from exc

    async def start(self) -> None:
        async with self._conn(write=True) as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        if self._dispose:
            await self._engine.dispose()

    async def append(self, entries: Sequence[NewEntry]) -> list[AuditRecord]:
        """Append in one transaction; the records come back in the order of `entries`."""
        groups: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            groups.setdefault(e.tenant, []).append(i)
        out: dict[int, AuditRecord] = {}
        async with self._conn(write=True) as conn:
            heads = await _lock_heads(conn, list(groups))
            for tenant in sorted(groups):
                idx = groups[tenant]
                records = await _append_locked(conn, heads[tenant], [entries[i] for i in idx])
                out.update(zip(idx, records, strict=True))
        return [out[i] for i in range(len(entries))]

    async def heads(self, tenant: str | None = None) -> list[ChainHead]:
        q = sa.select(chains_table).order_by(_c.tenant)
        if tenant is not None:
            q = q.where(_c.tenant == tenant)
        async with self._conn() as conn:
            return [_head(r) for r in await conn.execute(q)]

    async def page(
        self,
        tenant: str,
        flt: AuditFilter = AuditFilter(),  # noqa: B008 - frozen, so a safe default
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 1000,
        descending: bool = False,
    ) -> list[AuditRecord]:
        t = log_table.c
        q = sa.select(log_table).where(t.tenant == tenant)
        if flt.kind is not None:
            q = q.where(t.kind == flt.kind)
        if flt.subject is not None:
            q = q.where(t.subject == flt.subject)
        if flt.since is not None:
            q = q.where(t.ts_us >= to_us(flt.since))
        if flt.until is not None:
            q = q.where(t.ts_us < to_us(flt.until))
        if after_seq is not None:
            q = q.where(t.seq > after_seq)
        if before_seq is not None:
            q = q.where(t.seq < before_seq)
        q = q.order_by(t.seq.desc() if descending else t.seq).limit(limit)
        async with self._conn() as conn:
            return [_record(r) for r in await conn.execute(q)]

    async def purge_boundary(self, head: ChainHead, cutoff_us: int) -> int:
        """The newest seq up to which every record of the chain is older than the cutoff."""
        t = log_table.c
        q = sa.select(sa.func.min(t.seq)).where(
            t.tenant == head.tenant, t.seq > head.base_seq, t.ts_us >= cutoff_us
        )
        async with self._conn() as conn:
            first_kept = (await conn.execute(q)).scalar()
        return head.head_seq if first_kept is None else int(first_kept) - 1

    async def truncate(
        self, tenant: str, *, base_seq: int, upto_seq: int, upto_hash: str | None
    ) -> int:
        """Delete the chain's records up to `upto_seq` and move its checkpoint there.

        `upto_hash`: the hash the caller verified for record `upto_seq` (the purge fails if
        it changed); None (forced purge of a broken segment): the next record's prev_hash,
        or the head's hash when nothing is kept. Returns 0 when the checkpoint moved since
        the caller read it (another purge ran).
        """
        t = log_table.c
        async with self._conn(write=True) as conn:
            head = (await _lock_heads(conn, [tenant]))[tenant]
            if head.base_seq != base_seq or upto_seq <= base_seq:
                return 0
            if upto_hash is None:
                q = sa.select(t.prev_hash).where(t.tenant == tenant, t.seq == upto_seq + 1)
                upto_hash = (await conn.execute(q)).scalar() or head.head_hash
            else:
                q = sa.select(t.hash).where(t.tenant == tenant, t.seq == upto_seq)
                if (await conn.execute(q)).scalar() != upto_hash:
                    raise AuditStoreError(f"record {upto_seq} changed while being purged")
            done = await conn.execute(
                log_table.delete().where(t.tenant == tenant, t.seq <= upto_seq)
            )
            await conn.execute(
                chains_table.update()
                .where(_c.tenant == tenant)
                .values(base_seq=upto_seq, base_hash=upto_hash)
            )
        return int(done.rowcount)

    async def erase(
        self, subject: str, *, tenant: str | None, actor: str, ts_us: int
    ) -> dict[str, list[int]]:
        """Replace the payloads of the subject's records by their erased form and append a
        `privacy.erase` record listing them to each chain concerned; the erased seqs by
        tenant. `privacy.erase` records themselves are kept (they hold seqs only)."""
        t = log_table.c
        where = [t.subject == subject, t.kind != ERASE_KIND]
        if tenant is not None:
            where.append(t.tenant == tenant)
        async with self._conn() as conn:
            tenants = list(
                (await conn.execute(sa.select(t.tenant).where(*where).distinct())).scalars()
            )
        if not tenants:
            return {}
        marker = sa.literal('{"erased":true,"payload_sha256":"', sa.Text) + t.payload_sha256
        marker = marker + sa.literal('"}', sa.Text)
        erased: dict[str, list[int]] = {}
        async with self._conn(write=True) as conn:
            heads = await _lock_heads(conn, tenants)
            rows = await conn.execute(
                log_table.update()
                .where(*where, t.tenant.in_(tenants), t.payload != marker)
                .values(payload=marker)
                .returning(t.tenant, t.seq)
            )
            for row in rows:
                erased.setdefault(row.tenant, []).append(int(row.seq))
            for name in sorted(erased):
                seqs = sorted(erased[name])
                entry = make_entry(
                    ERASE_KIND,
                    tenant=name,
                    actor=actor,
                    subject=subject,
                    payload={"erased_seqs": seqs},
                    ts_us=ts_us,
                )
                await _append_locked(conn, heads[name], [entry])
        return erased
