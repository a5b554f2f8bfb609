from fastapi.testclient import TestClient


def test_greeting_then_order_status_flow(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"text": "你好"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intent"]["name"] == "greeting"
    sid = body["session_id"]
    r = client.post("/v1/chat", json={"session_id": sid, "text": "查一下我的订单"})
    body = r.json()
    assert body["flow"] == {"name": "order_status", "step": "ask_order", "expecting": "order_id"}
    r = client.post("/v1/chat", json={"session_id": sid, "text": "KF202611180002"})
    body = r.json()
    assert body["flow"] is None
    assert any(rep["type"] == "card" and rep["kind"] == "order" for rep in body["replies"])
    assert "已发货" in body["replies"][0]["text"]
