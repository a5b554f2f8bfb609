"""Tracker store on SQLAlchemy async: SQLite (WAL) by default, PostgreSQL in production.

Turns that finish at the same time share one transaction (group commit): a single writer
task drains the queue of pending appends, writes them together and only then resolves each
caller's future, so a reply is sent only after its events are committed. When a batch fails
(a sequence conflict, say) each append is retried alone so one bad turn fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from kefu.dialogue.base import (
    VERIFIED_SLOT,
    AppendBatch,
    SequenceConflict,
    SessionRecord,
    StoreError,
)
from kefu.domain.events import Event, SlotSet, event_from_data
from kefu.domain.types import SessionId, TenantId

log = logging.getLogger(__name__)

metadata = sa.MetaData()

sessions_table = sa.Table(
    "kefu_sessions",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_active", sa.Float, nullable=False),
    sa.Index("ix_kefu_sessions_last_active", "tenant", "last_active"),
)

events_table = sa.Table(
    "kefu_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("tenant", "session_id", "seq", name="uq_kefu_events_seq"),
    sa.ForeignKeyConstraint(
        ["tenant", "session_id"],
        ["kefu_sessions.tenant", "kefu_sessions.session_id"],
        name="fk_kefu_events_session",
    ),
)


def _json_dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, schema: str | None = None
) -> AsyncEngine:
    """An async engine; SQLite files get WAL and a busy timeout, their folder is created.

    `schema` (PostgreSQL) sets the search path, so several deployments or tests can share
    one database.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed turn survives a killed process; FULL would
            # also survive a power cut at the price of an fsync per commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {"timeout": 10, "command_timeout": 30}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args=connect_args,
    )


class SqlTrackerStore:
    def __init__(self, engine: AsyncEngine, *, group_commit_ms: float = 0.0) -> None:
        self._engine = engine
        self._window = group_commit_ms / 1000.0
        self._queue: list[tuple[AppendBatch, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        self._closing = False
        self._writer = asyncio.create_task(self._write_loop(), name="kefu-tracker-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        await self._engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return self._writer is not None and not self._writer.done()

    async def append(self, batch: AppendBatch) -> None:
        if self._writer is None or self._writer.done():
            raise StoreError("tracker store is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((batch, fut))
        self._wake.set()
        await fut

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            if self._window:
                await asyncio.sleep(self._window)
            self._wake.clear()
            items, self._queue = self._queue, []
            if items:
                await self._write_items(items)
            if self._closing and not self._queue:
                return

    async def _write_items(self, items: list[tuple[AppendBatch, asyncio.Future[None]]]) -> None:
        try:
            async with self._engine.begin() as conn:
                await _insert(conn, [batch for batch, _ in items])
        except Exception as exc:  # isolate the failing append below
            if len(items) == 1:
                _settle(items[0][1], _translate(exc))
                return
            for item in items:
                await self._write_items([item])
            return
        for _, fut in items:
            _settle(fut, None)

    async def get_session(self, tenant: TenantId, session_id: SessionId) -> SessionRecord | None:
        t = sessions_table
        try:
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.select(t).where(t.c.tenant == tenant, t.c.session_id == session_id)
                    )
                ).first()
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc
        return _record(row) if row is not None else None

    async def load(
        self, tenant: TenantId, session_id: SessionId, *, after_seq: int = -1
    ) -> list[Event]:
        t = events_table
        q = (
            sa.select(t.c.type, t.c.ts, t.c.data)
            .where(t.c.tenant == tenant, t.c.session_id == session_id, t.c.seq > after_seq)
            .order_by(t.c.seq)
        )
        try:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(q)).all()
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc
        return [event_from_data(r.type, r.ts, orjson.loads(r.data)) for r in rows]

    async def list_sessions(
        self, tenant: TenantId, *, idle_before: float | None = None, limit: int = 100
    ) -> list[SessionRecord]:
        t = sessions_table
        q = sa.select(t).where(t.c.tenant == tenant)
        if idle_before is not None:
            q = q.where(t.c.last_active < idle_before)
        q = q.order_by(t.c.last_active.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_record(r) for r in rows]

    async def customer_sessions(self, tenant: TenantId, customer_id: str) -> list[SessionId]:
        """Verified sessions are found by a text filter on the stored slot events (a scan:
        there is no index for it, fine for rare privacy requests), confirmed by parsing."""
        s, e = sessions_table, events_table
        logged_in = sa.select(s.c.session_id, s.c.created_at).where(
            s.c.tenant == tenant, s.c.user_id == customer_id
        )
        in_json = _json_dumps(customer_id)[1:-1]  # the id as it appears in the JSON text
        verified = (
            sa.select(e.c.session_id, e.c.data, s.c.created_at)
            .join(s, sa.and_(s.c.tenant == e.c.tenant, s.c.session_id == e.c.session_id))
            .where(
                e.c.tenant == tenant,
                e.c.type == SlotSet.type_name,
                e.c.data.contains(VERIFIED_SLOT, autoescape=True),
                e.c.data.contains(in_json, autoescape=True),
            )
        )
        try:
            async with self._engine.connect() as conn:
                found = {r.session_id: r.created_at for r in await conn.execute(logged_in)}
                for r in await conn.execute(verified):
                    data = orjson.loads(r.data)
                    if data.get("name") == VERIFIED_SLOT and data.get("value") == customer_id:
                        found[r.session_id] = r.created_at
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc
        return [SessionId(sid) for sid in sorted(found, key=lambda sid: (found[sid], sid))]

    async def erase_session(self, tenant: TenantId, session_id: SessionId) -> bool:
        """The session row is locked first (PostgreSQL), so a turn appended meanwhile fails
        on the missing session instead of leaving events behind."""
        s, e = sessions_table, events_table
        try:
            async with self._engine.begin() as conn:
                held = await conn.scalar(
                    sa.select(s.c.session_id)
                    .where(s.c.tenant == tenant, s.c.session_id == session_id)
                    .with_for_update()
                )
                if held is None:
                    return False
                await conn.execute(
                    sa.delete(e).where(e.c.tenant == tenant, e.c.session_id == session_id)
                )
                await conn.execute(
                    sa.delete(s).where(s.c.tenant == tenant, s.c.session_id == session_id)
                )
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc
        return True


_touch = (
    sessions_table.update()
    .where(
        sessions_table.c.tenant == sa.bindparam("b_tenant"),
        sessions_table.c.session_id == sa.bindparam("b_session"),
    )
    .values(last_active=sa.bindparam("b_ts"))
)


async def _insert(conn: AsyncConnection, batches: list[AppendBatch]) -> None:
    """Write many turns in at most three statements (new sessions, events, last_active)."""
    new_sessions = [
        {
            "tenant": s.tenant,
            "session_id": s.session_id,
            "user_id": s.user_id,
            "channel": s.channel,
            "created_at": s.created_at,
            "last_active": s.last_active,
        }
        for s in (b.new_session for b in batches)
        if s is not None
    ]
    rows = [
        {
            "tenant": b.tenant,
            "session_id": b.session_id,
            "seq": b.first_seq + i,
            "type": e.type_name,
            "ts": e.ts,
            "data": _json_dumps(e.to_data()),
        }
        for b in batches
        for i, e in enumerate(b.events)
    ]
    touched = {(b.tenant, b.session_id): b.events[-1].ts for b in batches if b.events}
    if new_sessions:
        await conn.execute(sessions_table.insert(), new_sessions)
    if rows:
        await conn.execute(events_table.insert(), rows)
    if touched:
        await conn.execute(
            _touch,
            [{"b_tenant": t, "b_session": s, "b_ts": ts} for (t, s), ts in touched.items()],
        )


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, IntegrityError):
        return SequenceConflict(str(exc.orig))
    if isinstance(exc, SQLAlchemyError | OSError):
        return StoreError(str(exc))
    return exc


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        tenant=TenantId(row.tenant),
        session_id=SessionId(row.session_id),
        user_id=row.user_id,
        channel=row.channel,
        created_at=row.created_at,
        last_active=row.last_active,
    )
