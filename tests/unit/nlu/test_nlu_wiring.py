"""The recogniser `build_nlu` makes serves the chat API (what container.py will use)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.container import build_services
from kefu.nlu.base import Embedder
from kefu.nlu.factory import build_nlu
from kefu.settings import Settings


def test_chat_with_the_default_nlu(settings: Settings, embedder: Embedder) -> None:
    services = build_services(settings, nlu=build_nlu(settings, embedder=embedder))
    with TestClient(create_app(services=services)) as client:
        body = client.post("/v1/chat", json={"text": "你好"}).json()
        assert body["intent"]["name"] == "greeting"
        sid = body["session_id"]
        body = client.post("/v1/chat", json={"session_id": sid, "text": "查一下我的订单"}).json()
        assert body["flow"] == {
            "name": "order_status",
            "step": "ask_order",
            "expecting": "order_id",
        }
        body = client.post("/v1/chat", json={"session_id": sid, "text": "KF202611180002"}).json()
        assert body["flow"] is None
        assert any(r["type"] == "card" and r["kind"] == "order" for r in body["replies"])
        body = client.post(
            "/v1/chat", json={"session_id": sid, "text": "三天了还没动静，是不是丢了"}
        ).json()
        assert body["intent"]["name"] == "logistics_tracking"
        assert body["intent"]["stage"] == "classifier"
