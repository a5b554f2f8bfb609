"""The audit admin API on a small app with stub services: roles, tenant scope, filters and
pages, verify, JSONL export (itself recorded)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from kefu.audit.router import router
from kefu.audit.service import AuditLog
from kefu.audit.store import SqlAuditStore
from kefu.dialogue.manager import ChatError
from kefu.dialogue.sql_store import make_engine
from kefu.settings import Settings

AUDITOR = {"Authorization": "Bearer k-auditor"}
ADMIN_A = {"Authorization": "Bearer k-admin-a"}
AGENT = {"Authorization": "Bearer k-agent"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # 2027-01-15T08:00:00Z

    def __call__(self) -> float:
        return self.now


def make_app(tmp_path: Path, audit: AuditLog | None) -> FastAPI:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        admin={
            "keys": [
                {"key": "k-auditor", "role": "auditor", "name": "ann"},
                {"key": "k-admin-a", "role": "admin", "tenant": "shop_a"},
                {"key": "k-agent", "role": "agent"},
            ]
        },
        _env_file=None,
    )
    app = FastAPI()
    app.state.services = SimpleNamespace(settings=settings, audit=audit)
    app.include_router(router)

    @app.exception_handler(ChatError)
    async def on_error(request: Request, exc: ChatError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code}}, status_code=exc.status)

    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    clock = Clock()
    store = SqlAuditStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"))
    audit = AuditLog(store, clock=clock)

    async def seed() -> None:
        await audit.start()
        for i in range(5):
            kind = "llm.request" if i % 2 == 0 else "shop.write"
            payload = {"i": i}
            await audit.record(
                kind, tenant="default", actor="system", subject="u1", payload=payload
            )
            clock.now += 86_400
        await audit.record("admin.action", tenant="shop_a", actor="staff:bo", payload={"a": 1})

    with TestClient(make_app(tmp_path, audit)) as c:
        c.portal.call(seed)
        yield c
        c.portal.call(audit.close)


def test_roles_guard_every_route(client: TestClient) -> None:
    for path in ("/v1/admin/audit", "/v1/admin/audit/verify", "/v1/admin/audit/export"):
        assert client.get(path).status_code == 401
        r = client.get(path, headers=AGENT)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        assert client.get(path, headers=AUDITOR).status_code == 200
        assert client.get(path, headers=ADMIN_A).status_code == 200


def test_records_of_the_callers_tenant_filtered_and_paged(client: TestClient) -> None:
    page = client.get("/v1/admin/audit", params={"limit": 2}, headers=AUDITOR).json()
    assert [r["seq"] for r in page["records"]] == [5, 4]
    assert page["next_before_seq"] == 4
    rest = client.get(
        "/v1/admin/audit", params={"limit": 2, "before_seq": 2}, headers=AUDITOR
    ).json()
    assert [r["seq"] for r in rest["records"]] == [1] and rest["next_before_seq"] is None
    assert page["records"][0]["payload"] == {"i": 4} and page["records"][0]["subject"] == "u1"

    writes = client.get("/v1/admin/audit", params={"kind": "shop.write"}, headers=AUDITOR).json()
    assert [r["seq"] for r in writes["records"]] == [4, 2]
    window = {"since": "2027-01-16T08:00:00Z", "until": "2027-01-18T08:00:00+00:00"}
    dated = client.get("/v1/admin/audit", params=window, headers=AUDITOR).json()
    assert [r["seq"] for r in dated["records"]] == [3, 2]

    shop_a = client.get("/v1/admin/audit", headers=ADMIN_A).json()
    assert [(r["seq"], r["actor"]) for r in shop_a["records"]] == [(1, "staff:bo")]


def test_verify_finds_tampering(client: TestClient, tmp_path: Path) -> None:
    ok = client.get("/v1/admin/audit/verify", headers=AUDITOR).json()
    assert ok == {"ok": True, "checked": 5, "first_bad_seq": None, "reason": None}
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        conn.execute("UPDATE kefu_audit_log SET actor = 'x' WHERE seq = 4 AND tenant = 'default'")
    conn.close()
    bad = client.get("/v1/admin/audit/verify", headers=AUDITOR).json()
    assert (bad["ok"], bad["first_bad_seq"]) == (False, 4)
    assert client.get("/v1/admin/audit/verify", headers=ADMIN_A).json()["ok"]  # other chain


def test_export_streams_json_lines_and_is_recorded(client: TestClient) -> None:
    r = client.get(
        "/v1/admin/audit/export", params={"since": "2027-01-17T00:00:00Z"}, headers=AUDITOR
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="audit-default.jsonl"' in r.headers["content-disposition"]
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [x["seq"] for x in lines] == [3, 4, 5, 6]
    export = lines[-1]
    assert (export["kind"], export["actor"]) == ("admin.action", "staff:ann")
    assert export["payload"]["action"] == "audit.export"
    assert export["payload"]["since"] == "2027-01-17T00:00:00+00:00"


def test_without_an_audit_log_the_routes_say_so(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, None)) as c:
        r = c.get("/v1/admin/audit", headers=AUDITOR)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "audit_unavailable")
