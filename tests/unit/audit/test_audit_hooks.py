"""The audit log hears the model calls, the shop's writes and the admin API's changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.audit.model import AuditFilter
from kefu.container import Services, build_services
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.settings import Settings
from kefu.testing.fake_llm import FakeChatModel
from kefu.testing.fakes import FakeOrderService

LONG = (
    "I bought a mug last week, order KF20260101001, and it arrived broken and the box was "
    "crushed and I'm really upset so what can I do about it now"
)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        knowledge={"enabled": False},
        llm={"base_url": "http://fake.invalid/v1"},
        admin={"keys": [{"key": "k-admin", "role": "admin", "name": "ops"}]},
        _env_file=None,
    )
    model = FakeChatModel('{"commands": []}')
    return build_services(
        settings, store=InMemoryTrackerStore(), orders=FakeOrderService(), chat_model=model
    )


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c


def kinds(client: TestClient, services: Services, kind: str) -> list[dict[str, object]]:
    assert services.audit is not None
    client.portal.call(services.audit.flush)  # model-call records are queued, not awaited
    records = client.portal.call(services.audit.query, "default", AuditFilter(kind=kind))  # type: ignore[union-attr]
    return [dict(r.to_json()) for r in records]


def test_model_calls_are_audited_with_their_session(client: TestClient, services: Services) -> None:
    r = client.post("/v1/chat", json={"text": LONG, "lang": "en"})
    assert r.status_code == 200
    sid = r.json()["session_id"]
    requests = kinds(client, services, "llm.request")
    responses = kinds(client, services, "llm.response")
    assert len(requests) == 1 and len(responses) == 1
    assert requests[0]["actor"] == f"session:{sid}"
    assert "KF20260101001" in orjson.dumps(requests[0]["payload"]).decode()
    assert responses[0]["payload"]["text"] == '{"commands": []}'  # type: ignore[index]


def test_shop_writes_are_audited(client: TestClient, services: Services) -> None:
    sid = None
    for text in ["我要取消订单", "u1001@example.cn", "KF202611200001", "不想要了", "确认"]:
        body: dict[str, object] = {"text": text}
        if sid:
            body["session_id"] = sid
        r = client.post("/v1/chat", json=body)
        assert r.status_code == 200, r.text
        sid = r.json()["session_id"]
    writes = kinds(client, services, "shop.write")
    assert [w["payload"]["action"] for w in writes] == ["cancel_order"], writes  # type: ignore[index]
    assert writes[0]["actor"] == f"session:{sid}"
    assert writes[0]["payload"]["status"] == "ok"  # type: ignore[index]


def test_admin_changes_are_audited_and_reads_are_not(
    client: TestClient, services: Services
) -> None:
    auth = {"Authorization": "Bearer k-admin"}
    client.get("/v1/admin/kb/entries", headers=auth)  # a read: not recorded
    entry = {"id": "t-1", "question": "运费谁出？", "answer": "店铺承担。"}
    r = client.put("/v1/admin/kb/entries/t-1", headers=auth, json=entry)
    assert r.status_code == 503, r.text  # the KB is off here; the attempt is still recorded
    actions = kinds(client, services, "admin.action")
    assert len(actions) == 1
    assert actions[0]["actor"] == "staff:ops"
    assert actions[0]["payload"]["method"] == "PUT"  # type: ignore[index]
    assert actions[0]["payload"]["status"] == r.status_code  # type: ignore[index]
