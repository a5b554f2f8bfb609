"""The audit log on a SQLite file: hash chain per tenant, tampering found at the right seq,
purge and erasure keeping the chain verifiable, masking, group commit, failures contained."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from kefu.audit.model import AuditFilter, AuditRecord, NewEntry
from kefu.audit.service import AuditChainBroken, AuditLog, AuditWriteError, build_audit_log
from kefu.audit.settings import AuditSettings
from kefu.audit.store import SqlAuditStore
from kefu.dialogue.sql_store import make_engine
from kefu.settings import Settings

DAY = 86_400.0
PHONE = "13812345678"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(SqlAuditStore):
    def __init__(self, path: Path) -> None:
        super().__init__(make_engine(f"sqlite+aiosqlite:///{path}"), dispose_engine=True)
        self.appends = 0

    async def append(self, entries: Sequence[NewEntry]) -> list[AuditRecord]:
        self.appends += 1
        return await super().append(entries)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def audit(db: Path, clock: Clock, registry: CollectorRegistry) -> AsyncIterator[AuditLog]:
    log = AuditLog(CountingStore(db), clock=clock, registry=registry)
    await log.start()
    yield log
    await log.close()


def sql(db: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    """Raw SQL on the file, as someone with database access would tamper with it."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


async def fill(audit: AuditLog, n: int, *, tenant: str = "default", subject: str = "u1") -> None:
    for i in range(n):
        assert await audit.record(
            "llm.request",
            tenant=tenant,
            actor=f"session:s{i}",
            subject=subject,
            payload={"i": i, "prompt": f"问题 {i}"},
        )


async def exported(audit: AuditLog, tenant: str = "default") -> list[dict[str, object]]:
    return [rec async for rec in audit.export(tenant)]


def canonical(x: object) -> bytes:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def test_records_form_a_chain_an_auditor_can_recompute(audit: AuditLog) -> None:
    await fill(audit, 5)
    result = await audit.verify()
    assert (result.ok, result.checked, result.first_bad_seq) == (True, 5, None)

    prev = "0" * 64
    lines = await exported(audit)
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5]
    for line in lines:  # the hash definition of kefu.audit.model, with the stdlib only
        payload_sha = hashlib.sha256(canonical(line["payload"])).hexdigest()
        assert payload_sha == line["payload_sha256"]
        fields = {k: line[k] for k in ("tenant", "seq", "ts", "kind", "actor", "subject")}
        fields |= {"payload_sha256": payload_sha, "prev_hash": prev}
        assert line["prev_hash"] == prev
        assert hashlib.sha256(canonical(fields)).hexdigest() == line["hash"]
        prev = str(line["hash"])
    assert lines[0]["ts"] == "2027-01-15T08:00:00.000000Z"


TAMPERING = {
    "payload edited": ["UPDATE kefu_audit_log SET payload = '{\"i\":99}' WHERE seq = 3"],
    "payload and its digest edited": [
        "UPDATE kefu_audit_log SET payload = '{}', payload_sha256 = "
        "'44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' WHERE seq = 3"
    ],
    "hash edited": ["UPDATE kefu_audit_log SET hash = prev_hash WHERE seq = 3"],
    "middle record deleted": ["DELETE FROM kefu_audit_log WHERE seq = 3"],
    "records reordered": [
        "UPDATE kefu_audit_log SET seq = -1 WHERE seq = 3",
        "UPDATE kefu_audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE kefu_audit_log SET seq = 4 WHERE seq = -1",
    ],
    "payload erased in secret": [
        "UPDATE kefu_audit_log SET payload = "
        '\'{"erased":true,"payload_sha256":"\' || payload_sha256 || \'"}\' WHERE seq = 3'
    ],
}


@pytest.mark.parametrize("statements", TAMPERING.values(), ids=TAMPERING.keys())
async def test_tampering_is_found_at_its_seq(
    audit: AuditLog, db: Path, statements: list[str]
) -> None:
    await fill(audit, 5)
    await fill(audit, 2, tenant="other")
    for statement in statements:
        sql(db, statement + " AND tenant = 'default'")
    result = await audit.verify("default")
    assert (result.ok, result.first_bad_seq) == (False, 3), result
    assert result.reason
    everything = await audit.verify()
    assert (everything.tenant, everything.first_bad_seq) == ("default", 3)
    assert (await audit.verify("other")).ok  # one chain per tenant


async def test_deleting_the_newest_records_is_found(audit: AuditLog, db: Path) -> None:
    await fill(audit, 5)
    sql(db, "DELETE FROM kefu_audit_log WHERE seq >= 4")
    result = await audit.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert result.reason == "records 4..5 are missing"


async def test_purge_keeps_the_chain_verifiable(audit: AuditLog, clock: Clock) -> None:
    await fill(audit, 3)
    old_head = (await exported(audit))[-1]["hash"]
    clock.now += 200 * DAY
    await fill(audit, 2)

    assert await audit.purge(180) == 3
    lines = await exported(audit)
    assert [r["seq"] for r in lines] == [4, 5, 6]  # 6: the purge's own admin.action record
    assert lines[0]["prev_hash"] == old_head
    purge_record = {"action": "audit.purge", "upto_seq": 3, "records": 3, "days": 180}
    assert lines[2]["payload"] == purge_record
    assert (await audit.verify()).ok

    clock.now += 400 * DAY  # everything is old now: the chain continues from its checkpoint
    assert await audit.purge() == 3
    await fill(audit, 1)
    assert [r["seq"] for r in await exported(audit)] == [7, 8]
    result = await audit.verify()
    assert (result.ok, result.checked) == (True, 2)


async def test_purge_refuses_a_broken_chain_unless_forced(
    audit: AuditLog, db: Path, clock: Clock
) -> None:
    await fill(audit, 3)
    await fill(audit, 3, tenant="shop_b")
    sql(db, "UPDATE kefu_audit_log SET payload = '{}' WHERE seq = 2 AND tenant = 'default'")
    clock.now += 200 * DAY
    with pytest.raises(AuditChainBroken) as broken:
        await audit.purge(180)
    assert (broken.value.result.first_bad_seq, broken.value.purged) == (2, 3)
    assert len(await exported(audit)) == 3  # the evidence is kept
    assert await audit.purge(180, force=True) == 3
    assert (await audit.verify()).ok


async def test_erasing_a_subject_removes_its_data_and_keeps_the_chains(
    audit: AuditLog, db: Path
) -> None:
    for tenant in ("default", "shop_b"):
        await audit.record(
            "shop.write", tenant=tenant, actor="system", subject="u1", payload={"to": PHONE}
        )
        await audit.record(
            "shop.write", tenant=tenant, actor="system", subject="u2", payload={"to": "keep"}
        )
    assert await audit.erase_subject("u1", actor="staff:dpo") == 2

    payloads = " ".join(str(r[0]) for r in sql(db, "SELECT payload FROM kefu_audit_log"))
    assert PHONE not in payloads and "keep" in payloads
    lines = await exported(audit)
    assert lines[0]["payload"] == {"erased": True, "payload_sha256": lines[0]["payload_sha256"]}
    assert lines[2]["kind"] == "privacy.erase"
    assert (lines[2]["payload"], lines[2]["actor"]) == ({"erased_seqs": [1]}, "staff:dpo")
    assert (await audit.verify()).ok
    assert await audit.erase_subject("u1") == 0  # already erased; the erase records stay
    assert (await audit.verify()).ok
    assert [r["kind"] for r in await exported(audit, "shop_b")][-1] == "privacy.erase"


async def test_the_masker_reaches_every_nested_string(db: Path, clock: Clock) -> None:
    audit = AuditLog(
        SqlAuditStore(make_engine(f"sqlite+aiosqlite:///{db}"), dispose_engine=True),
        masker=lambda s: s.replace(PHONE, "138****5678"),
        clock=clock,
    )
    await audit.start()
    payload = {
        "messages": [{"role": "user", "content": f"我的手机 {PHONE}"}],
        "meta": {"phones": (PHONE, 7), "n": 1.5, "ok": True, "none": None, "nan": math.nan},
        PHONE: datetime(2030, 1, 1, tzinfo=UTC),
        "note": f"tel {PHONE}",
    }
    assert await audit.record("llm.request", tenant="default", actor="system", payload=payload)
    (stored,) = [r async for r in audit.export("default")]
    await audit.close()
    assert stored["payload"] == {
        "messages": [{"role": "user", "content": "我的手机 138****5678"}],
        "meta": {"phones": ["138****5678", 7], "n": 1.5, "ok": True, "none": None, "nan": "nan"},
        PHONE: "2030-01-01 00:00:00+00:00",  # keys are names, not data: left alone
        "note": "tel 138****5678",
    }
    assert "我的手机 " + PHONE not in str(sql(db, "SELECT payload FROM kefu_audit_log"))


async def test_concurrent_appends_share_commits_and_keep_one_chain_per_tenant(
    audit: AuditLog,
) -> None:
    async def one(i: int) -> bool:
        tenant = ("default", "shop_b", "shop_c")[i % 3]
        return await audit.record("llm.response", tenant=tenant, actor="system", payload={"i": i})

    assert all(await asyncio.gather(*(one(i) for i in range(300))))
    result = await audit.verify()
    assert (result.ok, result.checked) == (True, 300)
    for tenant in ("default", "shop_b", "shop_c"):
        assert [r["seq"] for r in await exported(audit, tenant)] == list(range(1, 101))
    store = audit._store
    assert isinstance(store, CountingStore) and store.appends < 30  # group commit


async def test_a_failing_store_never_raises_unless_required(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    broken = SqlAuditStore(make_engine(f"sqlite+aiosqlite:///{tmp_path}"), dispose_engine=True)
    audit = AuditLog(broken, registry=registry)
    errors = "kefu_audit_write_errors_total"
    assert not await audit.record("llm.request", tenant="t", actor="system", payload={})
    assert registry.get_sample_value(errors) == 1
    with pytest.raises(AuditWriteError):
        await audit.record("shop.write", tenant="t", actor="system", payload={}, required=True)
    assert registry.get_sample_value(errors) == 2
    await audit.close()


async def test_a_failing_masker_or_bad_fields_write_nothing(
    audit: AuditLog, db: Path, registry: CollectorRegistry
) -> None:
    def boom(_: str) -> str:
        raise RuntimeError("masker down")

    audit._masker = boom
    assert not await audit.record("llm.request", tenant="t", actor="a", payload={"x": PHONE})
    audit._masker = str
    assert not await audit.record("", tenant="t", actor="a", payload={})
    assert not await audit.record("k" * 65, tenant="t", actor="a", payload={})
    assert registry.get_sample_value("kefu_audit_write_errors_total") == 3
    assert sql(db, "SELECT count(*) FROM kefu_audit_log") == [(0,)]


async def test_an_acknowledged_record_is_committed(audit: AuditLog, db: Path) -> None:
    assert await audit.record("admin.action", tenant="t", actor="staff:ann", payload={"a": 1})
    assert sql(db, "SELECT seq, actor FROM kefu_audit_log") == [(1, "staff:ann")]


async def test_disabled_or_payload_free_settings(db: Path, clock: Clock) -> None:
    store = SqlAuditStore(make_engine(f"sqlite+aiosqlite:///{db}"), dispose_engine=True)
    off = AuditLog(store, settings=AuditSettings(enabled=False))
    await off.start()
    assert not await off.record("llm.request", tenant="t", actor="a", payload={"x": 1})
    assert sql(db, "SELECT count(*) FROM kefu_audit_log") == [(0,)]

    digest_only = AuditLog(store, settings=AuditSettings(store_payloads=False), clock=clock)
    assert await digest_only.record("llm.request", tenant="t", actor="a", payload={"x": PHONE})
    (rec,) = [r async for r in digest_only.export("t")]
    expected = hashlib.sha256(canonical({"x": PHONE})).hexdigest()
    assert rec["payload"] == {"omitted": True, "payload_sha256": expected}
    assert (await digest_only.verify()).ok
    await digest_only.close()


async def test_query_filters_and_pages_newest_first(audit: AuditLog, clock: Clock) -> None:
    await fill(audit, 3, subject="u1")
    clock.now += DAY
    await fill(audit, 3, subject="u2")
    await audit.record("admin.action", tenant="default", actor="staff:x", payload={})
    await fill(audit, 2, tenant="shop_b")

    page = await audit.query("default", AuditFilter(kind="llm.request"), limit=4)
    assert [r.seq for r in page] == [6, 5, 4, 3]
    older = await audit.query("default", AuditFilter(kind="llm.request"), before_seq=3, limit=4)
    assert [r.seq for r in older] == [2, 1]
    assert [r.seq for r in await audit.query("default", AuditFilter(subject="u1"))] == [3, 2, 1]
    day2 = datetime.fromtimestamp(clock.now, UTC)
    assert len(await audit.query("default", AuditFilter(since=day2))) == 4
    assert len(await audit.query("default", AuditFilter(until=day2))) == 3
    lines = [r async for r in audit.export("default", since=day2)]
    assert [r["seq"] for r in lines] == [4, 5, 6, 7]


async def test_the_built_log_syncs_every_commit_to_disk(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)
    audit = build_audit_log(settings)
    await audit.start()
    assert await audit.record("admin.action", tenant="t", actor="a", payload={})
    async with audit._store._engine.connect() as conn:  # type: ignore[attr-defined]
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    await audit.close()
    assert sql(tmp_path / "audit.db", "SELECT count(*) FROM kefu_audit_log") == [(1,)]
