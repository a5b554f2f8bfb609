"""Two server processes share PostgreSQL; a Redis lock keeps one session's turns in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from kefu.testing.server import ServerProcess

pytestmark = pytest.mark.integration


def test_turns_of_one_session_stay_in_order_across_processes(
    tmp_path: Path, pg_url: str, pg_schema: str, redis_url: str
) -> None:
    env = {
        "KEFU_STORAGE__URL": pg_url,
        "KEFU_STORAGE__SCHEMA_NAME": pg_schema,
        "KEFU_REDIS__URL": redis_url,
        "KEFU_LIMITS__PER_SESSION_BURST": "1000",
        "KEFU_LIMITS__PER_SESSION_RATE": "1000",
    }
    a = ServerProcess(data_dir=tmp_path / "a", env=env).start()
    b = ServerProcess(data_dir=tmp_path / "b", env=env).start()
    try:
        sid = httpx.post(f"{a.url}/v1/chat", json={"text": "你好"}, timeout=10).json()["session_id"]

        async def fire() -> list[int]:
            async with httpx.AsyncClient(timeout=20) as c:
                reqs = [
                    c.post(
                        f"{(a if i % 2 else b).url}/v1/chat",
                        json={"session_id": sid, "text": f"谢谢 {i}"},
                    )
                    for i in range(30)
                ]
                return [r.status_code for r in await asyncio.gather(*reqs)]

        codes = asyncio.run(fire())
        assert codes == [200] * 30
        # Both processes see the same, whole, well-formed log.
        for server in (a, b):
            history = httpx.get(f"{server.url}/v1/sessions/{sid}", timeout=10).json()["history"]
            roles = [h["role"] for h in history]
            assert roles == ["user", "bot"] * 31
            users = sorted(h["text"] for h in history[2::2])
            assert users == sorted(f"谢谢 {i}" for i in range(30))
        # A flow started on A waits for its order id, and B continues it.
        r = httpx.post(
            f"{a.url}/v1/chat", json={"session_id": sid, "text": "查订单"}, timeout=10
        ).json()
        assert r["flow"]["expecting"] == "order_id"
        r = httpx.post(
            f"{b.url}/v1/chat", json={"session_id": sid, "text": "KF202611180002"}, timeout=10
        ).json()
        assert any(x["type"] == "card" for x in r["replies"])
    finally:
        a.stop()
        b.stop()
