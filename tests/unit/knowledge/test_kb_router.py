"""The admin API under /v1/admin/kb (roles, tenants, writes live at once) and the chat API
answering from the knowledge base through the dialogue manager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.container import build_services
from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.factory import build_knowledge
from kefu.knowledge.router import router
from kefu.settings import Settings

ADMIN = {"Authorization": "Bearer k-admin"}
AGENT = {"Authorization": "Bearer k-agent"}
SHOP_A = {"Authorization": "Bearer k-shop-a"}


@pytest.fixture
def client(tmp_path: Path, encoder: AsyncEmbedder) -> Iterator[TestClient]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"},
        admin={
            "keys": [
                {"key": "k-admin", "role": "admin"},
                {"key": "k-agent", "role": "agent"},
                {"key": "k-shop-a", "role": "admin", "tenant": "shop_a"},
            ]
        },
        _env_file=None,
    )
    knowledge = build_knowledge(settings, embedder=encoder)
    services = build_services(settings, knowledge=knowledge)
    app = create_app(services=services)
    app.include_router(router)
    with TestClient(app) as c:
        c.portal.call(knowledge.start)  # the lead wires this into Services.start
        yield c
        c.portal.call(knowledge.close)


def test_roles_guard_the_routes(client: TestClient) -> None:
    body = {"id": "x1", "question": "能开发票吗", "answer": "能。"}
    assert client.post("/v1/admin/kb/faq", json=body).status_code == 401
    r = client.post("/v1/admin/kb/faq", json=body, headers=AGENT)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    assert client.get("/v1/admin/kb/entries", headers=AGENT).status_code == 200
    assert client.get("/v1/admin/kb/search", params={"q": "发票"}, headers=AGENT).status_code == 200
    assert client.delete("/v1/admin/kb/entries/zh-001", headers=AGENT).status_code == 403


def test_add_update_delete_and_search(client: TestClient) -> None:
    body = {
        "id": "kx-720",
        "question": "KX-720 空气炸锅保修多久",
        "similar": ["KX-720 质保几年"],
        "answer": "KX-720 保修两年。",
        "category": "warranty",
    }
    r = client.post("/v1/admin/kb/faq", json=body, headers=ADMIN)
    assert r.status_code == 201 and r.json()["status"] == "added"
    assert r.json()["entry"]["lang"] == "zh"
    again = client.post("/v1/admin/kb/faq", json=body, headers=ADMIN)
    assert again.json()["status"] == "unchanged"

    hits = client.get("/v1/admin/kb/search", params={"q": "KX-720 能保修吗"}, headers=ADMIN).json()
    assert hits["hits"][0]["id"] == "kx-720" and hits["hits"][0]["bm25"] == 1.0
    assert {"dense", "bm25", "fused"} <= set(hits["hits"][0]) and hits["lang"] == "zh"

    put = client.put(
        "/v1/admin/kb/entries/kx-720", json={**body, "answer": "KX-720 保修三年。"}, headers=ADMIN
    )
    assert put.json()["status"] == "updated"
    assert client.get("/v1/admin/kb/entries/kx-720", headers=ADMIN).json()["answer"] == (
        "KX-720 保修三年。"
    )
    wrong = client.put("/v1/admin/kb/entries/other", json=body, headers=ADMIN)
    assert wrong.status_code == 422
    bad = client.post("/v1/admin/kb/faq", json={"id": "x", "question": "q"}, headers=ADMIN)
    assert bad.status_code == 422

    assert client.delete("/v1/admin/kb/entries/kx-720", headers=ADMIN).status_code == 204
    assert client.delete("/v1/admin/kb/entries/kx-720", headers=ADMIN).status_code == 404


def test_each_shop_sees_only_its_own_entries(client: TestClient) -> None:
    page = client.get("/v1/admin/kb/entries", params={"limit": 5}, headers=ADMIN).json()
    assert page["total"] == 104 and len(page["entries"]) == 5  # kefu's default FAQ
    assert client.get("/v1/admin/kb/entries", headers=SHOP_A).json()["total"] == 0
    client.post(
        "/v1/admin/kb/faq",
        json={"id": "a1", "question": "你们的门店在哪", "answer": "上海。"},
        headers=SHOP_A,
    )
    assert client.get("/v1/admin/kb/entries/a1", headers=ADMIN).status_code == 404
    assert client.get("/v1/admin/kb/entries/a1", headers=SHOP_A).status_code == 200


def test_import_a_file_through_the_api(client: TestClient) -> None:
    csv = "id,question,answer\nc1,门店几点开门,每天十点。\nc2,没有答案,\n"
    r = client.post(
        "/v1/admin/kb/import",
        params={"filename": "faq.csv"},
        content=csv.encode(),
        headers=SHOP_A,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["added"] == ["c1"]
    assert out["rejected"] == [{"line": 3, "id": "c2", "reason": "answer: missing"}]
    junk = client.post(
        "/v1/admin/kb/import", params={"filename": "x.jsonl"}, content=b"\x00" * 64, headers=SHOP_A
    )
    assert (junk.status_code, junk.json()["error"]["code"]) == (422, "import_refused")


def test_chat_answers_from_the_kb_and_says_when_it_cannot(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"text": "你们卖的是正品吗"}).json()
    assert r["answer_source"] == "faq"
    assert r["sources"][0]["id"] == "zh-043"
    assert "正品" in r["replies"][0]["text"]
    r = client.post("/v1/chat", json={"text": "今天天气怎么样"}).json()
    assert r["answer_source"] == "fallback"
    assert r["replies"][0]["options"][-1]["payload"] == {"intent": "human_agent"}


def test_an_entry_added_through_the_api_answers_the_next_chat(client: TestClient) -> None:
    before = client.post("/v1/chat", json={"text": "KX-720 空气炸锅保修多久"}).json()
    assert before["answer_source"] != "faq" or before["sources"][0]["id"] != "kx-720"
    client.post(
        "/v1/admin/kb/faq",
        json={"id": "kx-720", "question": "KX-720 空气炸锅保修多久", "answer": "保修两年。"},
        headers=ADMIN,
    )
    after = client.post("/v1/chat", json={"text": "KX-720 空气炸锅保修多久"}).json()
    assert after["answer_source"] == "faq" and after["sources"][0]["id"] == "kx-720"
    assert after["replies"][0]["text"] == "保修两年。"
