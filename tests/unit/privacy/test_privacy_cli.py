"""`kefu privacy export|erase` on a fresh data folder (SQLite sessions, shop and audit log)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.audit.model import AuditFilter
from kefu.audit.service import build_audit_log
from kefu.cli import app
from kefu.commerce.base import NewTicket
from kefu.container import build_shop, build_store
from kefu.domain.events import SessionStarted, SlotSet, UserUttered
from kefu.domain.types import TenantId
from kefu.settings import Settings
from kefu.testing.conformance import new_session

T = TenantId("default")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEFU_KNOWLEDGE__ENABLED", "false")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def seed() -> None:
    """c1: a session verified in the chat, a ticket, an audit record; c2: a session."""

    async def main() -> None:
        settings = Settings()
        store, shop, audit = build_store(settings), build_shop(settings), build_audit_log(settings)
        for part in (store, shop, audit):
            await part.start()
        said = UserUttered(ts=2.0, text="我的手机 13800138001", lang="zh")
        verified = SlotSet(ts=3.0, name="verified_user_id", value="c1")
        await new_session(store, [SessionStarted(ts=1.0), said, verified], tenant=T)
        await new_session(store, [SessionStarted(ts=1.0)], tenant=T, user_id="c2")
        ticket = NewTicket(category="refund", subject="退款", user_id="c1")
        await shop.create_ticket(T, ticket, idempotency_key="k1")
        await audit.record("shop.write", tenant=T, actor="system", subject="c1", payload={"a": 1})
        for part in (audit, shop, store):
            await part.close()

    asyncio.run(main())


def held(customer: str) -> tuple[int, int, int]:
    """(sessions, tickets, audit records with a payload) of the customer."""

    async def main() -> tuple[int, int, int]:
        settings = Settings()
        store, shop, audit = build_store(settings), build_shop(settings), build_audit_log(settings)
        for part in (store, shop, audit):
            await part.start()
        sessions = await store.customer_sessions(T, customer)
        tickets = await shop.list_tickets(T, customer)
        records = await audit.query(T, AuditFilter(kind="shop.write", subject=customer))
        kept = [r for r in records if "erased" not in r.payload]
        for part in (audit, shop, store):
            await part.close()
        return len(sessions), len(tickets), len(kept)

    return asyncio.run(main())


def test_export_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    seed()
    out = tmp_path / "c1.json"
    r = runner.invoke(app, ["privacy", "export", "--customer", "c1", "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "exported 1 sessions and 1 tickets of c1" in r.output
    assert out.stat().st_mode & 0o777 == 0o600
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "13800138001" in json.dumps(data["sessions"], ensure_ascii=False)
    assert [t["subject"] for t in data["tickets"]] == ["退款"]
    assert [a["payload"] for a in data["audit"]] == [{"a": 1}]


def test_erase_asks_first_then_erases_once(runner: CliRunner) -> None:
    seed()
    no = runner.invoke(app, ["privacy", "erase", "--customer", "c1"], input="n\n")
    assert no.exit_code == 1 and "Aborted" in no.output
    assert held("c1") == (1, 1, 1)
    yes = runner.invoke(app, ["privacy", "erase", "--customer", "c1"], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert "erased 1 sessions, anonymised 1 tickets, erased 1 audit payloads" in yes.output
    assert "not erased: orders and the customer record" in yes.output
    assert held("c1") == (0, 0, 0)
    assert held("c2") == (1, 0, 0)
    again = runner.invoke(app, ["privacy", "erase", "--customer", "c1", "--yes"])
    assert again.exit_code == 0, again.output
    assert "erased 0 sessions, anonymised 0 tickets, erased 0 audit payloads" in again.output


def test_a_blank_customer_is_refused(runner: CliRunner) -> None:
    r = runner.invoke(app, ["privacy", "erase", "--customer", " ", "--yes"])
    assert r.exit_code == 2 and "customer id" in r.output
