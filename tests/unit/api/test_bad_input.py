"""Bad input gets a clear error code; the connection stays usable; nothing stored is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.settings import Settings


def _start(client: TestClient) -> str:
    r = client.post("/v1/chat", json={"text": "查订单"})
    assert r.status_code == 200
    return str(r.json()["session_id"])


def _error(r: Any) -> str:
    return str(r.json()["error"]["code"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "x" * 2001}, 413, "text_too_long"),
        ({"text": ""}, 422, "empty_text"),
        ({"text": "   \n\t "}, 422, "empty_text"),
        ({}, 422, "empty_text"),
        ({"text": "hi", "session_id": "../../etc/passwd"}, 422, "invalid_session_id"),
        ({"text": "hi", "session_id": "nosuchsession"}, 404, "session_not_found"),
        ({"text": 42}, 422, "invalid_request"),
        ({"text": "hi", "lang": "fr"}, 422, "invalid_request"),
        ({"action": {"id": "nope"}}, 409, "stale_action"),
    ],
)
def test_rest_rejects_bad_bodies(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    r = client.post("/v1/chat", json=body)
    assert r.status_code == status, r.text
    assert _error(r) == code


def test_rest_rejects_malformed_json_and_invalid_utf8(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    r = client.post("/v1/chat", content=b'{"text": "hi"', headers=headers)
    assert (r.status_code, _error(r)) == (400, "bad_json")
    r = client.post("/v1/chat", content=b'{"text": "\xff\xfe"}', headers=headers)
    assert (r.status_code, _error(r)) == (400, "invalid_utf8")
    r = client.post("/v1/chat", content=b"[1, 2]", headers=headers)
    assert (r.status_code, _error(r)) == (400, "bad_json")


def test_text_of_exactly_the_limit_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"text": "好" * 2000})
    assert r.status_code == 200


def test_foreign_session_is_refused_and_left_intact(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"text": "查订单", "user_id": "alice"})
    sid = r.json()["session_id"]
    r = client.post(
        "/v1/chat", json={"text": "KF202611180002", "session_id": sid, "user_id": "mallory"}
    )
    assert (r.status_code, _error(r)) == (403, "session_forbidden")
    r = client.get(f"/v1/sessions/{sid}", params={"user_id": "mallory"})
    assert r.status_code == 403
    state = client.get(f"/v1/sessions/{sid}", params={"user_id": "alice"}).json()
    assert [h["text"] for h in state["history"] if h["role"] == "user"] == ["查订单"]
    assert state["flow_stack"][0]["flow"] == "order_status"


@pytest.fixture
def slow_client(tmp_path: Path) -> Iterator[TestClient]:
    """Buckets that barely refill, so the test does not depend on the machine's speed."""
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        _env_file=None,
        limits={"per_session_rate": 0.01, "per_connection_rate": 0.01},
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_session_rate_limit(slow_client: TestClient) -> None:
    client = slow_client
    sid = _start(client)
    burst = Settings(_env_file=None).limits.per_session_burst
    codes = [
        client.post("/v1/chat", json={"text": "你好", "session_id": sid}).status_code
        for _ in range(burst + 5)
    ]
    assert 429 in codes
    assert codes.count(200) <= burst + 1


def test_ws_bad_frames_get_errors_and_connection_stays_usable(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_text("{not json")
        assert ws.receive_json() == {
            "type": "error",
            "code": "bad_json",
            "message": "frames must be JSON objects",
        }
        ws.send_text('"a string"')
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "teleport"})
        assert ws.receive_json()["code"] == "unknown_frame_type"
        ws.send_json({"type": "message", "text": "x" * 2001, "client_msg_id": "m1"})
        err = ws.receive_json()
        assert (err["code"], err["client_msg_id"]) == ("text_too_long", "m1")
        ws.send_json({"type": "message", "text": "", "client_msg_id": "m2"})
        assert ws.receive_json()["code"] == "empty_text"
        ws.send_json({"type": "message", "client_msg_id": "m3"})
        assert ws.receive_json()["code"] == "empty_text"
        ws.send_bytes(b'{"type": "message", "text": "\xff"}')
        assert ws.receive_json()["code"] == "invalid_utf8"
        ws.send_bytes(b"x" * 20_000)
        assert ws.receive_json()["code"] == "frame_too_large"
        ws.send_json({"type": "action", "id": 5})
        assert ws.receive_json()["code"] == "bad_action"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        ws.send_json({"type": "message", "text": "你好", "client_msg_id": "ok"})
        reply = ws.receive_json()
        assert reply["type"] == "reply" and reply["client_msg_id"] == "ok"
        assert reply["intent"]["name"] == "greeting"


def test_ws_unknown_session_starts_fresh(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws?session_id=doesnotexist") as ws:
        err = ws.receive_json()
        assert err["code"] == "session_not_found"
        ws.send_json({"type": "message", "text": "hi", "client_msg_id": "a"})
        reply = ws.receive_json()
        assert reply["type"] == "reply" and reply["session_id"] != "doesnotexist"


def test_ws_flood_is_rate_limited_per_connection(slow_client: TestClient) -> None:
    client = slow_client
    burst = Settings(_env_file=None).limits.per_connection_burst
    with client.websocket_connect("/v1/ws") as ws:
        for i in range(burst + 5):
            ws.send_json({"type": "message", "text": "你好", "client_msg_id": str(i)})
        frames = [ws.receive_json() for _ in range(burst + 5)]
    codes = [f.get("code") for f in frames if f["type"] == "error"]
    assert "rate_limited" in codes
    assert all(c in ("rate_limited",) for c in codes)


def test_ws_resumes_a_session_and_continues_its_flow(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "message", "text": "查订单", "client_msg_id": "1"})
        first = ws.receive_json()
    sid = first["session_id"]
    assert first["flow"]["expecting"] == "order_id"
    with client.websocket_connect(f"/v1/ws?session_id={sid}") as ws:
        ws.send_json({"type": "message", "text": "KF202611180002", "client_msg_id": "2"})
        second = ws.receive_json()
    assert second["session_id"] == sid
    assert any(r["type"] == "card" for r in second["replies"])


def test_bad_requests_do_not_corrupt_the_session(client: TestClient) -> None:
    sid = _start(client)
    for body in (
        {"text": "y" * 5000},
        {"text": ""},
        {"action": {"id": "forged", "payload": {"order_id": "X"}}},
    ):
        r = client.post("/v1/chat", json={**body, "session_id": sid})
        assert r.status_code >= 400
    state = client.get(f"/v1/sessions/{sid}").json()
    assert len(state["history"]) == 2  # the first question and its answer, nothing else
    r = client.post("/v1/chat", json={"text": "KF202611180002", "session_id": sid})
    assert r.status_code == 200 and r.json()["slots"]["order_id"] == "KF202611180002"
