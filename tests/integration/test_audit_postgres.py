"""The audit log on PostgreSQL: two engines (as two server processes would) appending to the
same chains at once keep them gap-free and valid; erase, purge and tamper checks there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from kefu.audit.service import AuditLog
from kefu.audit.store import SqlAuditStore
from kefu.dialogue.sql_store import make_engine

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pair(pg_url: str, pg_schema: str) -> AsyncIterator[tuple[AuditLog, AuditLog]]:
    logs = [
        AuditLog(
            SqlAuditStore(make_engine(pg_url, schema=pg_schema, pool_size=4), dispose_engine=True)
        )
        for _ in range(2)
    ]
    for log in logs:  # one after the other: CREATE TABLE does not race well
        await log.start()
    yield logs[0], logs[1]
    for log in logs:
        await log.close()


async def test_two_writers_keep_one_valid_chain_per_tenant(
    pair: tuple[AuditLog, AuditLog],
) -> None:
    async def writer(log: AuditLog, name: str, n: int) -> None:
        async def one(i: int) -> None:
            tenant = "default" if i % 3 else "shop_b"
            payload = {"writer": name, "i": i}
            await log.record(
                "llm.request", tenant=tenant, actor=name, payload=payload, required=True
            )

        for start in range(0, n, 25):  # bursts, so both group-commit and interleave
            await asyncio.gather(*(one(i) for i in range(start, start + 25)))

    await asyncio.gather(writer(pair[0], "p1", 150), writer(pair[1], "p2", 150))
    result = await pair[1].verify()
    assert (result.ok, result.checked) == (True, 300), result
    default = [r async for r in pair[0].export("default")]
    assert [r["seq"] for r in default] == list(range(1, 201))
    assert {r["actor"] for r in default} == {"p1", "p2"}


async def test_erase_purge_and_tampering_on_postgres(
    pg_url: str, pg_schema: str, pair: tuple[AuditLog, AuditLog]
) -> None:
    clock = Clock()
    log = AuditLog(
        SqlAuditStore(make_engine(pg_url, schema=pg_schema), dispose_engine=True), clock=clock
    )
    for i in range(4):
        subject = "u1" if i % 2 else "u2"
        await log.record("shop.write", tenant="t", actor="x", subject=subject, payload={"i": i})
    assert await log.erase_subject("u1") == 2
    assert (await log.verify("t")).ok
    clock.now += 400 * 86_400
    await log.record("shop.write", tenant="t", actor="x", payload={"i": 9})
    assert await log.purge(180) == 5  # four records and the erase record
    assert (await log.verify("t")).ok

    engine = make_engine(pg_url, schema=pg_schema)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE kefu_audit_log SET kind = 'x' WHERE seq = 6"))
    await engine.dispose()
    result = await pair[0].verify("t")
    assert (result.ok, result.first_bad_seq) == (False, 6)
    await log.close()
