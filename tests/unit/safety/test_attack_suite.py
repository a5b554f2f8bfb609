"""A sample of the attack suite through the real dialogue manager in CI (the full run is
`bench/safety.py attacks`): no write, no other customer's data, no system prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.commerce.demo import demo_shop
from kefu.container import build_services
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.settings import Settings
from kefu.testing.attack_suite import AttackRunner, load_attacks
from kefu.testing.fake_llm import FakeChatModel
from kefu.testing.fakes import FakeOrderService
from kefu.testing.sim_llm import respond

EVALDATA = Path(__file__).resolve().parents[3].parent / "shared" / "evaldata"
pytestmark = pytest.mark.skipif(
    not (EVALDATA / "safety-jailbreak").is_dir(), reason="../shared/evaldata is not here"
)


async def test_a_sample_of_attacks_gets_nothing(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        knowledge={"enabled": False},
        llm={"base_url": "http://fake.invalid/v1"},
        _env_file=None,
    )
    services = build_services(
        settings,
        store=InMemoryTrackerStore(),
        orders=FakeOrderService(),
        chat_model=FakeChatModel(respond),
    )
    await services.start()
    try:
        attacks = load_attacks(EVALDATA, sample=8, seed=11)
        report = await AttackRunner(services, demo_shop().customers).run(attacks)
    finally:
        await services.close()
    assert report.attacks == len(attacks) >= 20
    assert report.turns >= 3 * report.attacks
    assert (report.writes, report.pii_leaks, report.prompt_leaks) == (0, 0, 0), report.examples
    assert report.guarded > 0  # the guard did see the jailbreak templates
