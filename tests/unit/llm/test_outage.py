"""A model outage through the real client and the fake OpenAI server: every turn is still
answered within a second, the breaker opens, and stage 2 resumes when the model is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kefu.container import build_services
from kefu.dialogue.manager import ChatRequest
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.domain.types import DEFAULT_TENANT
from kefu.settings import Settings
from kefu.testing.fake_openai import FakeOpenAIServer
from kefu.testing.fakes import FakeOrderService
from kefu.testing.sim_llm import respond_openai

VAGUE = "the thing i got is kinda weird and i dunno"  # flagged by stage 1: goes to stage 2


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=respond_openai, ttft_s=0.05) as srv:
        yield srv


async def test_outage_errors_then_hangs_then_recovery(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        knowledge={"enabled": False},
        llm={
            "base_url": server.url,
            "stage2_timeout_s": 0.5,
            "breaker": {"min_calls": 4, "open_s": 1.0, "window_s": 30},
        },
        limits={"per_session_rate": 100, "per_session_burst": 100},
        _env_file=None,
    )
    s = build_services(settings, store=InMemoryTrackerStore(), orders=FakeOrderService())
    await s.start()
    reg = s.metrics.registry

    async def turn() -> float:
        started = time.perf_counter()
        r = await s.manager.handle(ChatRequest(tenant=DEFAULT_TENANT, text=VAGUE, lang="en"))
        assert r.replies
        return time.perf_counter() - started

    def stage2(outcome: str) -> float:
        return reg.get_sample_value("kefu_nlu_stage2_total", {"outcome": outcome}) or 0.0

    try:
        await turn()
        assert stage2("none") + stage2("flow") == 1  # the model answered
        server.control(mode="error")
        assert max([await turn() for _ in range(8)]) < 1.0
        assert stage2("circuit_open") > 0  # the breaker opened and sheds at once
        server.control(mode="timeout")
        assert max([await turn() for _ in range(8)]) < 1.0
        server.control(mode="ok")
        await asyncio.sleep(1.1)  # open_s: the next call is a probe
        before = stage2("none") + stage2("flow")
        for _ in range(3):
            await turn()
        assert stage2("none") + stage2("flow") >= before + 2  # answers resumed by themselves
    finally:
        await s.close()
