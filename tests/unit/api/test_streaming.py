"""An LLM answer streams: `reply_delta` frames on the WebSocket and `reply_delta` events on
SSE (POST /v1/chat/stream), then the whole checked turn; a client that leaves mid-stream
stops the model call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.container import Services, build_services
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.knowledge.factory import Knowledge
from kefu.knowledge.model import DocEntry
from kefu.settings import Settings
from kefu.testing.fake_llm import FakeChatModel
from kefu.testing.fakes import FakeOrderService
from kefu.testing.sim_llm import respond

DOC = DocEntry(
    id="ship-hk",
    lang="en",
    title="Shipping to Hong Kong and Macau",
    content=(
        "Parcels to Hong Kong and Macau leave our warehouse within 24 hours and arrive in "
        "five to seven working days. Customs duty, if any, is paid by the shop."
    ),
)
QUESTION = "Who pays customs duty on parcels to Macau?"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Services]]:
    tmp: Path = tmp_path_factory.mktemp("streaming")
    settings = Settings(
        env="test",
        data_dir=tmp,
        llm={"base_url": "http://fake.invalid/v1", "stage2": False},
        _env_file=None,
    )
    model = FakeChatModel(respond, piece_delay_s=0.02)
    services = build_services(
        settings, store=InMemoryTrackerStore(), orders=FakeOrderService(), chat_model=model
    )
    with TestClient(create_app(services=services)) as client:
        assert isinstance(services.knowledge, Knowledge)
        client.portal.call(services.knowledge.kb.upsert, "default", DOC)
        yield client, services


def test_websocket_streams_deltas_then_the_checked_reply(
    setup: tuple[TestClient, Services],
) -> None:
    client, _ = setup
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_text(
            orjson.dumps({"type": "message", "text": QUESTION, "client_msg_id": "m1"}).decode()
        )
        deltas: list[str] = []
        while True:
            frame = orjson.loads(ws.receive_text())
            if frame["type"] == "reply_delta":
                assert frame["client_msg_id"] == "m1"
                deltas.append(frame["text"])
                continue
            break
    assert frame["type"] == "reply", frame
    assert frame["answer_source"] == "llm"
    assert [s["id"] for s in frame["sources"]] == ["ship-hk"]
    final = frame["replies"][0]["text"]
    assert "five to seven working days" in final and "[1]" not in final
    assert len(deltas) > 3 and "".join(deltas).strip() == final


def test_sse_streams_deltas_then_the_turn(setup: tuple[TestClient, Services]) -> None:
    client, _ = setup
    events: list[tuple[str, dict[str, object]]] = []
    with client.stream("POST", "/v1/chat/stream", json={"text": QUESTION}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, orjson.loads(line[6:])))
    names = [n for n, _ in events]
    assert names[-1] == "reply" and set(names[:-1]) == {"reply_delta"}
    turn = events[-1][1]
    assert turn["answer_source"] == "llm"
    text = "".join(str(d["text"]) for n, d in events if n == "reply_delta")
    assert text.strip() == turn["replies"][0]["text"]  # type: ignore[index]


def test_sse_reports_refusals_as_error_events(setup: tuple[TestClient, Services]) -> None:
    client, _ = setup
    with client.stream("POST", "/v1/chat/stream", json={"text": "  "}) as r:
        body = r.read().decode()
    assert "event: error" in body and "empty_text" in body


def test_a_fast_path_turn_streams_nothing(setup: tuple[TestClient, Services]) -> None:
    client, _ = setup
    with client.stream("POST", "/v1/chat/stream", json={"text": "你好"}) as r:
        body = r.read().decode()
    assert "reply_delta" not in body and body.startswith("event: reply")


async def test_leaving_mid_stream_cancels_the_model_call(tmp_path: Path) -> None:
    """Drive the SSE generator directly: closing it (what Starlette does when the client
    disconnects) cancels the turn, and the model's stream is closed."""
    from kefu.api.chat import _stream_turn
    from kefu.dialogue.manager import ChatRequest
    from kefu.domain.types import DEFAULT_TENANT

    settings = Settings(
        env="test", data_dir=tmp_path, llm={"base_url": "http://fake.invalid/v1", "stage2": False},
        _env_file=None,
    )  # fmt: skip
    model = FakeChatModel(respond, piece_delay_s=0.05)
    services = build_services(
        settings, store=InMemoryTrackerStore(), orders=FakeOrderService(), chat_model=model
    )
    await services.start()
    try:
        assert isinstance(services.knowledge, Knowledge)
        await services.knowledge.kb.upsert("default", DOC)
        gen = _stream_turn(services, ChatRequest(tenant=DEFAULT_TENANT, text=QUESTION))
        first = await gen.__anext__()
        assert first.startswith(b"event: reply_delta")
        await gen.aclose()
        await asyncio.sleep(0.05)
        assert model.cancelled == 1
    finally:
        await services.close()
