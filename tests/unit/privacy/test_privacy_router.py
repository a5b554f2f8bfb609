"""The privacy admin API on a small app with stub services: admins only, the key's tenant
only, export, erase (and again), and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from kefu.audit.model import AuditFilter
from kefu.audit.service import AuditLog
from kefu.audit.store import SqlAuditStore
from kefu.commerce.base import NewTicket
from kefu.dialogue.manager import ChatError
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.dialogue.sql_store import make_engine
from kefu.domain.events import SessionStarted, UserUttered
from kefu.domain.types import TenantId
from kefu.privacy.router import router
from kefu.privacy.service import PrivacyService
from kefu.settings import Settings
from kefu.testing.conformance import new_session
from kefu.testing.fakes import FakeShop

ADMIN = {"Authorization": "Bearer k-admin"}  # tenant shop_a
AUDITOR = {"Authorization": "Bearer k-auditor"}
AGENT = {"Authorization": "Bearer k-agent"}
URL = "/v1/admin/privacy/customers/c1"


def make_app(tmp_path: Path, privacy: PrivacyService | None) -> FastAPI:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        admin={
            "keys": [
                {"key": "k-admin", "role": "admin", "tenant": "shop_a", "name": "ops"},
                {"key": "k-auditor", "role": "auditor", "tenant": "shop_a"},
                {"key": "k-agent", "role": "agent", "tenant": "shop_a"},
            ]
        },
        _env_file=None,
    )
    app = FastAPI()
    app.state.services = SimpleNamespace(settings=settings, privacy=privacy)
    app.include_router(router)

    @app.exception_handler(ChatError)
    async def on_error(request: Request, exc: ChatError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code}}, status_code=exc.status)

    return app


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(SqlAuditStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")))


@pytest.fixture
def client(tmp_path: Path, audit: AuditLog) -> Iterator[TestClient]:
    store, shop = InMemoryTrackerStore(), FakeShop(tenant="shop_a")
    privacy = PrivacyService(store, shop, audit)
    said = [SessionStarted(ts=1.0, user_id="c1"), UserUttered(ts=2.0, text="我的包裹", lang="zh")]

    async def seed() -> None:
        await audit.start()
        await new_session(store, said, tenant=TenantId("shop_a"), user_id="c1")
        await new_session(store, said, tenant=TenantId("shop_b"), user_id="c1")
        ticket = NewTicket(category="complaint", subject="慢", user_id="c1")
        await shop.create_ticket("shop_a", ticket, idempotency_key="k1")

    with TestClient(make_app(tmp_path, privacy)) as c:
        c.portal.call(seed)
        yield c
        c.portal.call(audit.close)


def test_only_admins_may_export_or_erase(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        assert client.request(method, URL).status_code == 401
        for headers in (AUDITOR, AGENT):
            r = client.request(method, URL, headers=headers)
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_export_of_the_admins_tenant(client: TestClient, audit: AuditLog) -> None:
    r = client.get(URL, headers=ADMIN)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["tenant"] == "shop_a" and data["customer_id"] == "c1"
    [session] = data["sessions"]  # not shop_b's session of a customer with the same id
    assert [e["type"] for e in session["events"]] == ["session_started", "user_uttered"]
    assert [t["subject"] for t in data["tickets"]] == ["慢"]
    records = client.portal.call(audit.query, "shop_a", AuditFilter(subject="c1"))
    assert [(r.kind, r.actor) for r in records] == [("admin.action", "staff:ops")]


def test_erase_then_erase_again(client: TestClient) -> None:
    r = client.delete(URL, headers=ADMIN)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["tenant"], report["customer_id"]) == ("shop_a", "c1")
    assert (report["sessions_erased"], report["tickets_anonymised"]) == (1, 1)
    assert any("orders" in o["what"] for o in report["not_erased"])
    assert client.get(URL, headers=ADMIN).json()["sessions"] == []
    again = client.delete(URL, headers=ADMIN).json()
    assert (again["sessions_erased"], again["tickets_anonymised"]) == (0, 0)


def test_bad_ids_and_a_missing_service(client: TestClient, tmp_path: Path) -> None:
    r = client.delete("/v1/admin/privacy/customers/%20", headers=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert client.get(f"/v1/admin/privacy/customers/{'x' * 129}", headers=ADMIN).status_code == 422
    with TestClient(make_app(tmp_path, None)) as bare:
        r = bare.get(URL, headers=ADMIN)
        assert r.status_code == 503 and r.json()["error"]["code"] == "privacy_unavailable"
