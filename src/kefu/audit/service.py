"""The audit log: masked, hash-chained records of LLM calls, back-end writes and admin
actions, with verification, retention purge, export and erasure of a subject's payloads.

`record()` never raises into the caller's turn (it logs `audit.write_failed`, counts
`kefu_audit_write_errors` and returns False) unless the caller asks for `required=True`.
A record is acknowledged only once its transaction is committed. Records that arrive while
a commit is running are committed together by one background flush (group commit); the
flush is not tied to the caller, so a cancelled turn does not tear its records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import event as sa_event

from kefu.audit.model import (
    AuditFilter,
    AuditRecord,
    ChainChecker,
    ChainHead,
    NewEntry,
    VerifyResult,
    canonical_json,
    make_entry,
    sha256_hex,
)
from kefu.audit.settings import AuditSettings, resolved_audit_url
from kefu.audit.store import AuditStore, SqlAuditStore
from kefu.dialogue.sql_store import make_engine
from kefu.domain.types import JsonValue
from kefu.settings import Settings

log = logging.getLogger(__name__)

Masker = Callable[[str], str]
PAGE = 1000
_DAY_US = 86_400 * 1_000_000
_LIMITS = {"tenant": 64, "kind": 64, "actor": 200, "subject": 200}


class AuditWriteError(RuntimeError):
    """A record the caller required could not be written."""


class AuditChainBroken(RuntimeError):
    """Purge refused a chain whose old records do not verify (the others were purged)."""

    def __init__(self, result: VerifyResult, *, purged: int) -> None:
        super().__init__(
            f"tenant {result.tenant}: chain broken at seq {result.first_bad_seq}: {result.reason}"
        )
        self.result = result
        self.purged = purged


def identity(text: str) -> str:
    return text


def mask_value(value: object, masker: Masker) -> JsonValue:
    """`value` as JSON with `masker` applied to every string in it (mapping keys excepted);
    other objects become masked strings, NaN and infinities strings."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return masker(value)
    if isinstance(value, Mapping):
        return {str(k): mask_value(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, masker) for v in value]
    return masker(str(value))


class AuditLog:
    def __init__(
        self,
        store: AuditStore,
        *,
        settings: AuditSettings | None = None,
        masker: Masker = identity,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or AuditSettings()
        self._store = store
        self._masker = masker
        self._clock = clock
        self._errors = Counter(
            "kefu_audit_write_errors",
            "Audit records that could not be written",
            registry=registry or CollectorRegistry(),
        )
        self._pending: list[tuple[NewEntry, asyncio.Future[AuditRecord]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one write transaction at a time in this process

    async def start(self) -> None:
        await self._store.start()

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._store.close()

    def _now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    async def record(
        self,
        kind: str,
        *,
        tenant: str,
        actor: str,
        subject: str | None = None,
        payload: Mapping[str, object],
        required: bool = False,
    ) -> bool:
        """Append a record (payload masked first); True once it is committed.

        Failures are logged and counted; they raise `AuditWriteError` only if `required`.
        With `settings.enabled` False nothing is written and False is returned."""
        if not self.settings.enabled:
            return False
        try:
            entry = self._entry(kind, tenant=tenant, actor=actor, subject=subject, payload=payload)
            await self._enqueue(entry)
        except Exception as exc:
            self._failed(kind, tenant, exc)
            if required:
                raise AuditWriteError(f"audit record {kind!r} not written: {exc}") from exc
            return False
        return True

    def _failed(self, kind: str, tenant: str, exc: BaseException) -> None:
        self._errors.inc()
        log.error("audit.write_failed kind=%s tenant=%s error=%r", kind, tenant, exc)

    async def flush(self) -> None:
        """Wait until every record queued so far is committed (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def record_soon(
        self,
        kind: str,
        *,
        tenant: str,
        actor: str,
        subject: str | None = None,
        payload: Mapping[str, object],
        premasked: bool = False,
    ) -> None:
        """Queue a record without waiting for its commit (for calls on a customer's turn
        whose own outcome does not depend on it, such as model calls). The payload is
        masked and the record placed in the chain's order now; it is committed with the
        next batch. Failures are logged and counted as in `record`."""
        if not self.settings.enabled:
            return
        try:
            entry = self._entry(
                kind,
                tenant=tenant,
                actor=actor,
                subject=subject,
                payload=payload,
                premasked=premasked,
            )
        except Exception as exc:
            self._failed(kind, tenant, exc)
            return

        def done(fut: asyncio.Future[AuditRecord]) -> None:
            exc = None if fut.cancelled() else fut.exception()
            if exc is not None:
                self._failed(kind, tenant, exc)

        self._enqueue(entry).add_done_callback(done)

    def _entry(
        self,
        kind: str,
        *,
        tenant: str,
        actor: str,
        subject: str | None,
        payload: Mapping[str, object],
        premasked: bool = False,
    ) -> NewEntry:
        fields = {"tenant": tenant, "kind": kind, "actor": actor, "subject": subject or ""}
        for name, value in fields.items():
            if len(value) > _LIMITS[name] or (not value and name != "subject"):
                raise ValueError(f"{name} must be 1..{_LIMITS[name]} characters")
        # `premasked`: the caller masked the payload's text already (model prompts are built
        # from masked text); masking it again would find nothing and cost a scan per call.
        masked = mask_value(dict(payload), _identity if premasked else self._masker)
        if not self.settings.store_payloads:
            masked = {"omitted": True, "payload_sha256": sha256_hex(canonical_json(masked))}
        return make_entry(
            kind, tenant=tenant, actor=actor, subject=subject, payload=masked, ts_us=self._now_us()
        )

    def _enqueue(self, entry: NewEntry) -> asyncio.Future[AuditRecord]:
        fut: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain(), name="kefu-audit-flush")
        return fut

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            async with self._lock:
                try:
                    records = await self._store.append([entry for entry, _ in batch])
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
            for (_, fut), rec in zip(batch, records, strict=True):
                if not fut.done():
                    fut.set_result(rec)

    async def tenants(self) -> list[str]:
        return [h.tenant for h in await self._store.heads()]

    async def query(
        self, tenant: str, flt: AuditFilter, *, before_seq: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """A tenant's records matching `flt`, newest first, older than `before_seq`."""
        return await self._store.page(
            tenant, flt, before_seq=before_seq, limit=limit, descending=True
        )

    async def export(
        self, tenant: str, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[dict[str, JsonValue]]:
        """A tenant's records from `since` (inclusive) to `until` (exclusive), oldest first,
        as JSON objects (one line each in a JSONL export)."""
        flt = AuditFilter(since=since, until=until)
        after = 0
        while True:
            page = await self._store.page(tenant, flt, after_seq=after, limit=PAGE)
            for rec in page:
                yield rec.to_json()
            if len(page) < PAGE:
                return
            after = page[-1].seq

    async def verify(self, tenant: str | None = None) -> VerifyResult:
        """Check one tenant's chain, or every chain (stopping at the first broken one)."""
        checked = 0
        for head in await self._store.heads(tenant):
            result = await self._verify_chain(head)
            checked += result.checked
            if not result.ok:
                return replace(result, checked=checked)
        return VerifyResult(ok=True, checked=checked, tenant=tenant)

    async def _verify_chain(self, head: ChainHead) -> VerifyResult:
        for _ in range(2):
            result = (await self._walk(head, upto=head.head_seq)).finish(head)
            if result.ok:
                return result
            again = await self._store.heads(head.tenant)
            if not again or again[0].base_seq == head.base_seq:
                return result
            head = again[0]  # a purge ran meanwhile: start again from its checkpoint
        return result

    async def _walk(self, head: ChainHead, *, upto: int) -> ChainChecker:
        """Feed the chain's records after its checkpoint up to `upto` to a checker."""
        checker = ChainChecker.from_base(head)
        after = head.base_seq
        while after < upto:
            page = await self._store.page(
                head.tenant, after_seq=after, before_seq=upto + 1, limit=PAGE
            )
            for rec in page:
                if not checker.feed(rec):
                    return checker
            if len(page) < PAGE:
                break
            after = page[-1].seq
        return checker

    async def purge(
        self, retention_days: int | None = None, *, force: bool = False, actor: str = "system"
    ) -> int:
        """Delete records older than `retention_days` (default: the settings') from every
        chain, moving each chain's checkpoint; returns how many were deleted.

        The records to delete are verified first: a chain whose old part is broken is left
        alone (run `kefu audit verify`) and `AuditChainBroken` is raised after the other
        chains are purged, unless `force`. Each purge is recorded (`admin.action`)."""
        days = retention_days or self.settings.retention_days
        cutoff = self._now_us() - days * _DAY_US
        purged, broken = 0, None
        for head in await self._store.heads():
            upto = await self._store.purge_boundary(head, cutoff)
            if upto <= head.base_seq:
                continue
            upto_hash = None
            if not force:
                checker = await self._walk(head, upto=upto)
                end_hash = head.head_hash if upto == head.head_seq else checker.prev_hash
                result = checker.finish(
                    replace(head, head_seq=upto, head_hash=end_hash), erasures=False
                )
                if not result.ok:
                    broken = broken or result
                    continue
                upto_hash = checker.prev_hash
            async with self._lock:
                n = await self._store.truncate(
                    head.tenant, base_seq=head.base_seq, upto_seq=upto, upto_hash=upto_hash
                )
            purged += n
            action = {"action": "audit.purge", "upto_seq": upto, "records": n, "days": days}
            await self.record("admin.action", tenant=head.tenant, actor=actor, payload=action)
        log.info("audit.purged records=%d retention_days=%d", purged, days)
        if broken is not None:
            raise AuditChainBroken(broken, purged=purged)
        return purged

    async def erase_subject(
        self, subject: str, *, tenant: str | None = None, actor: str = "system"
    ) -> int:
        """Erase the payloads of the subject's records (all tenants unless `tenant`), keeping
        their digests so the chains still verify; returns how many were erased."""
        async with self._lock:
            erased = await self._store.erase(
                subject, tenant=tenant, actor=actor, ts_us=self._now_us()
            )
        count = sum(len(seqs) for seqs in erased.values())
        log.info("audit.erased records=%d tenants=%d", count, len(erased))
        return count


def audit_settings(settings: Settings) -> AuditSettings:
    """`settings.audit` once the settings root has it, else the defaults."""
    value = getattr(settings, "audit", None)
    return value if isinstance(value, AuditSettings) else AuditSettings()


def build_audit_log(
    settings: Settings,
    *,
    masker: Masker = identity,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
) -> AuditLog:
    """The audit log on its own engine (see `AuditSettings.url`); a SQLite file gets
    `synchronous=FULL`, so an acknowledged record survives a power cut too (group commit
    keeps the fsyncs few). To share the sessions' engine instead, build
    `AuditLog(SqlAuditStore(engine), ...)` directly."""
    audit = audit_settings(settings)
    url = resolved_audit_url(
        audit, data_dir=settings.data_dir, storage_url=settings.resolved_storage_url()
    )
    schema = settings.storage.schema_name if url.startswith("postgresql") else None
    engine = make_engine(url, pool_size=settings.storage.pool_size, schema=schema)
    if url.startswith("sqlite"):

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _full_sync(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA synchronous=FULL")  # after make_engine's NORMAL
            cur.close()

    store = SqlAuditStore(engine, dispose_engine=True)
    return AuditLog(store, settings=audit, masker=masker, registry=registry, clock=clock)


def _identity(text: str) -> str:
    return text
