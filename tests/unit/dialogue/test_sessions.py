"""Session life: replay equals live state, idle expiry, history kept whole, tenants apart."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.container import build_services
from kefu.dialogue.manager import ChatRequest
from kefu.dialogue.tracker import replay
from kefu.domain.types import DEFAULT_TENANT, SessionId
from kefu.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(env="test", data_dir=tmp_path, _env_file=None, **extra)  # type: ignore[arg-type]


async def test_replayed_state_equals_live_state(tmp_path: Path) -> None:
    services = build_services(_settings(tmp_path))
    await services.start()
    m = services.manager
    r = await m.handle(ChatRequest(tenant=DEFAULT_TENANT, text="查订单"))
    sid = r.session_id
    await m.handle(ChatRequest(tenant=DEFAULT_TENANT, session_id=sid, text="先看物流"))
    live = services.manager._cache[(DEFAULT_TENANT, sid)]
    events = await services.store.load(DEFAULT_TENANT, SessionId(sid))
    rebuilt = replay(SessionId(sid), DEFAULT_TENANT, events)
    assert rebuilt.flow_stack == live.flow_stack
    assert rebuilt.slots == live.slots
    assert rebuilt.history == live.history
    assert [f.flow for f in rebuilt.flow_stack] == ["order_status", "logistics_tracking"]
    await services.close()


async def test_idle_session_expires_but_history_is_kept(tmp_path: Path) -> None:
    clock = Clock()
    settings = _settings(tmp_path, session={"idle_timeout_s": 600})
    services = build_services(settings, clock=clock)
    await services.start()
    m = services.manager
    r = await m.handle(ChatRequest(tenant=DEFAULT_TENANT, text="查订单"))
    sid = r.session_id
    assert r.flow is not None
    clock.now += 601
    r = await m.handle(ChatRequest(tenant=DEFAULT_TENANT, session_id=sid, text="KF202611180002"))
    # The old flow is gone: an order id alone, with no flow waiting, is not understood.
    assert r.flow is None and r.answer_source == "fallback"
    state = await m.session_state(DEFAULT_TENANT, sid)
    assert [h.text for h in state.history if h.role == "user"] == ["查订单", "KF202611180002"]
    await services.close()


def test_llm_history_is_capped_but_store_keeps_all(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, session={"llm_history_turns": 4}, limits={"per_session_burst": 100}
    )
    with TestClient(create_app(settings)) as client:
        sid = client.post("/v1/chat", json={"text": "你好"}).json()["session_id"]
        for _ in range(5):
            client.post("/v1/chat", json={"text": "谢谢", "session_id": sid})
        state = client.get(f"/v1/sessions/{sid}").json()
        assert len(state["history"]) == 12
    services = build_services(settings)
    assert services.settings.session.llm_history_turns == 4


def test_tenants_are_isolated_by_channel_key(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        channels={
            "keys": [
                {"key": "key-shop-a", "tenant": "shop_a"},
                {"key": "key-shop-b", "tenant": "shop_b"},
            ]
        },
    )
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/chat", json={"text": "你好"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        a = {"X-Kefu-Key": "key-shop-a"}
        sid = client.post("/v1/chat", json={"text": "你好"}, headers=a).json()["session_id"]
        b = {"X-Kefu-Key": "key-shop-b"}
        r = client.post("/v1/chat", json={"text": "hi", "session_id": sid}, headers=b)
        assert r.status_code == 404
        assert client.get(f"/v1/sessions/{sid}", headers=b).status_code == 404
        assert client.get(f"/v1/sessions/{sid}", headers=a).status_code == 200


def test_metrics_count_turns_errors_and_connections(client: TestClient) -> None:
    client.post("/v1/chat", json={"text": "你好"})
    client.post("/v1/chat", json={"text": ""})
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "ping"})
        ws.receive_json()
        text = client.get("/metrics").text
        assert "kefu_ws_connections 1.0" in text
    text = client.get("/metrics").text
    assert 'kefu_chat_turns_total{answer_source="flow",channel="web",tenant="default"} 1.0' in text
    assert 'kefu_chat_errors_total{code="empty_text"} 1.0' in text
    assert 'kefu_chat_turn_seconds_bucket{answer_source="flow"' in text
    assert "kefu_ws_connections 0.0" in text


def test_health_ready_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    spec = client.get("/openapi.json").json()
    assert "/v1/chat" in spec["paths"] and "/v1/sessions/{session_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200
