"""`kefu audit verify|purge|export` on a fresh data folder."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.audit.cli import app
from kefu.audit.model import AuditRecord, canonical_json, sha256_hex, to_us
from kefu.audit.service import build_audit_log
from kefu.cli import app as kefu_app
from kefu.settings import Settings

DAY = 86_400.0
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def seed(records: list[tuple[str, float]]) -> None:
    """One llm.request record per (tenant, unix time)."""
    now = [T0]

    async def main() -> None:
        audit = build_audit_log(Settings(), clock=lambda: now[0])
        await audit.start()
        for i, (tenant, ts) in enumerate(records):
            now[0] = ts
            await audit.record(
                "llm.request", tenant=tenant, actor="system", payload={"i": i}, required=True
            )
        await audit.close()

    asyncio.run(main())


def tamper(tmp_path: Path, statement: str) -> None:
    with sqlite3.connect(tmp_path / "data" / "audit.db") as conn:
        conn.execute(statement)
    conn.close()


def test_verify_reports_the_first_bad_seq(runner: CliRunner, tmp_path: Path) -> None:
    seed([("default", T0)] * 4 + [("shop_b", T0)] * 2)
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "tenant default: ok, 4 records checked" in ok.output
    assert "tenant shop_b: ok, 2 records checked" in ok.output

    tamper(tmp_path, "UPDATE kefu_audit_log SET payload = '{\"i\":9}' WHERE seq = 2")
    bad = runner.invoke(app, ["verify"])
    assert bad.exit_code == 1
    assert "tenant default: BROKEN at seq 2" in bad.output
    assert "tenant shop_b: BROKEN at seq 2" in bad.output
    tamper(tmp_path, "DELETE FROM kefu_audit_log WHERE tenant = 'shop_b'")
    gone = runner.invoke(kefu_app, ["audit", "verify", "--tenant", "shop_b"])
    assert gone.exit_code == 1 and "BROKEN at seq 1: records 1..2 are missing" in gone.output


def test_export_writes_json_lines_of_one_tenant(runner: CliRunner, tmp_path: Path) -> None:
    seed([("default", T0), ("shop_b", T0), ("default", T0 + DAY), ("default", T0 + 2 * DAY)])
    result = runner.invoke(app, ["export", "--tenant", "default", "--output", "out.jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3, 4]
    assert lines[3]["kind"] == "admin.action" and lines[3]["actor"] == "cli"  # the export
    assert lines[0]["ts"] == "2027-01-15T08:00:00.000000Z"
    for line in lines:
        record = AuditRecord(
            tenant=line["tenant"],
            seq=line["seq"],
            ts_us=to_us(datetime.fromisoformat(line["ts"])),
            kind=line["kind"],
            actor=line["actor"],
            subject=line["subject"],
            payload_json=canonical_json(line["payload"]),
            payload_sha256=line["payload_sha256"],
            prev_hash=line["prev_hash"],
            hash=line["hash"],
        )
        assert record.computed_hash() == record.hash
        assert sha256_hex(record.payload_json) == record.payload_sha256
    assert "exported 4 records of tenant default" in result.output

    one_day = runner.invoke(
        app, ["export", "--tenant", "default", "--since", "2027-01-16", "--until", "2027-01-16"]
    )
    assert one_day.exit_code == 0, one_day.output
    days = [json.loads(line) for line in one_day.stdout.splitlines()]
    assert [(r["seq"], r["payload"]) for r in days] == [(2, {"i": 2})]
    bad = runner.invoke(app, ["export", "--tenant", "default", "--since", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO date" in bad.output


def test_purge_deletes_old_records_and_keeps_the_chain(runner: CliRunner) -> None:
    seed([("default", 1_500_000_000.0)] * 3 + [("default", time.time())])  # 2017, now
    result = runner.invoke(app, ["purge", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "purged 3 records older than 30 days" in result.output
    assert runner.invoke(app, ["verify"]).exit_code == 0
    assert "purged 0 records older than 180 days" in runner.invoke(app, ["purge"]).output
