"""Kill the server with SIGKILL: every acknowledged turn is on disk, flows continue."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from kefu.testing.server import ServerProcess

pytestmark = pytest.mark.integration


def test_sigkill_mid_flow_then_restart_continues_the_same_step(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            sid = c.post("/v1/chat", json={"text": "查订单"}).json()["session_id"]
            r = c.post("/v1/chat", json={"session_id": sid, "text": "先看看物流"}).json()
            assert r["flow"]["name"] == "logistics_tracking"
        server.kill()
        server = ServerProcess(data_dir=tmp_path, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=10) as c:
            state = c.get(f"/v1/sessions/{sid}").json()
            assert [h["role"] for h in state["history"]] == ["user", "bot", "user", "bot"]
            assert [h["text"] for h in state["history"]][::2] == ["查订单", "先看看物流"]
            assert [f["flow"] for f in state["flow_stack"]] == [
                "order_status",
                "logistics_tracking",
            ]
            r = c.post("/v1/chat", json={"session_id": sid, "text": "KF202611180002"}).json()
            texts = " ".join(x.get("text", "") for x in r["replies"])
            assert "SF1234567890123" in texts and "继续刚才的「查询订单」" in texts
            assert r["flow"] is None
    finally:
        server.stop()


def test_no_acknowledged_turn_is_lost_under_load(tmp_path: Path) -> None:
    server = ServerProcess(
        data_dir=tmp_path,
        env={"KEFU_LIMITS__PER_SESSION_BURST": "1000", "KEFU_LIMITS__PER_SESSION_RATE": "1000"},
    ).start()
    acked: list[tuple[str, str]] = []
    stop = threading.Event()

    async def talker(n: int) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
            sid = None
            i = 0
            while not stop.is_set():
                text = f"谢谢 {n}-{i}"
                try:
                    r = await c.post("/v1/chat", json={"session_id": sid, "text": text})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    sid = r.json()["session_id"]
                    acked.append((sid, text))
                i += 1

    async def load() -> None:
        async def killer() -> None:
            await asyncio.sleep(1.5)
            stop.set()
            server.kill()

        await asyncio.gather(killer(), *(talker(n) for n in range(12)))

    asyncio.run(load())
    assert len(acked) > 20, "the load did not get going"
    server = ServerProcess(data_dir=tmp_path, port=server.port).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            by_session: dict[str, list[str]] = {}
            for sid, text in acked:
                by_session.setdefault(sid, []).append(text)
            for sid, texts in by_session.items():
                history = c.get(f"/v1/sessions/{sid}").json()["history"]
                stored = [h["text"] for h in history if h["role"] == "user"]
                assert stored[: len(texts)] == texts
    finally:
        server.stop()
