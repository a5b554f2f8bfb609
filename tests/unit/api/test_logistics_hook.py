"""The signed logistics webhook stores tracking events and pushes them to the customer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.api.hooks import signature
from kefu.settings import Settings

SECRET = "s3cret-for-tests"
PARCEL = "SF1234567890123"  # demo order KF202611180002 of customer u1001


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(env="test", data_dir=tmp_path, _env_file=None, **extra)  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(
        tmp_path, hooks={"logistics_secret": SECRET}, channels={"trust_user_id": True}
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _post(client: TestClient, body: dict[str, object], secret: str = SECRET) -> object:
    raw = json.dumps(body).encode()
    return client.post(
        "/v1/hooks/logistics",
        content=raw,
        headers={"content-type": "application/json", "X-Kefu-Signature": signature(secret, raw)},
    )


UPDATE = {
    "tracking_number": PARCEL,
    "events": [
        {"ts": 4_000_000_000, "description": "快件已签收，签收人：前台", "location": "上海"}
    ],
}


def test_push_reaches_the_customers_open_chat_and_is_stored(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws?user_id=u1001") as ws:
        r = _post(client, UPDATE)
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        assert r.json() == {"order_id": "KF202611180002", "delivered": 1, "kept": False}  # type: ignore[attr-defined]
        push = ws.receive_json()
        assert push["type"] == "push" and push["order_id"] == "KF202611180002"
        assert "快件已签收" in push["text"]
        ws.send_json({"type": "message", "text": "查物流 KF202611180002", "client_msg_id": "1"})
        reply = ws.receive_json()
        texts = " ".join(x.get("text", "") for x in reply["replies"])
        assert "快件已签收" in texts  # the stored event is now the latest


def test_push_is_kept_for_the_next_visit(client: TestClient) -> None:
    r = _post(client, UPDATE)
    assert r.json()["kept"] is True  # type: ignore[attr-defined]
    with client.websocket_connect("/v1/ws?user_id=u1001") as ws:
        push = ws.receive_json()
        assert push["type"] == "push" and push["tracking_number"] == PARCEL


def test_another_customer_gets_nothing(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws?user_id=u1002") as ws:
        assert _post(client, UPDATE).json()["delivered"] == 0  # type: ignore[attr-defined]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # no push arrived before the pong


def test_bad_signature_unknown_parcel_and_bad_body(client: TestClient) -> None:
    r = _post(client, UPDATE, secret="wrong")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "bad_signature")  # type: ignore[attr-defined]
    r = _post(client, {**UPDATE, "tracking_number": "SF0000000000000"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "unknown_tracking_number")  # type: ignore[attr-defined]
    r = _post(client, {"tracking_number": PARCEL, "events": []})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")  # type: ignore[attr-defined]


def test_hook_is_off_without_a_secret(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path))) as c:
        r = _post(c, UPDATE)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "hook_disabled")  # type: ignore[attr-defined]
