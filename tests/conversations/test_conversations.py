"""Runs every tests/conversations/*.yaml script against the real dialogue engine.

A script is a list of turns. A turn may start a new conversation first (`new_session:
true`), then sends `user: TEXT`, `click: LABEL` (an option of the
previous reply, by its label), or `action: {id, payload}`; may switch a fake connector first
(`connector: {orders: timeout|error|garbage|ok}`); and states what must hold after it:

    intent, stage, flow (name or null), step, expecting, slots (subset; null = absent),
    says (substrings of the reply text), not_says, options (labels offered), card (kind),
    answer_source, handoff (true/false), error (an error code the turn must be refused with),
    writes (how many fake writes have happened so far), shop_writes (how many write calls
    the fake shop has received so far, refused ones included: a "no" or a blocked injection
    must leave it unchanged).

Header keys: `name`, `user_id`, `flows` (extra flow files beside the script), `knowledge`
(true: answer from the default FAQ; off by default so scripts stay fast).

Every script runs twice: without an LLM, and with NLU stage 2 on against the fake
OpenAI-compatible server (real client, real HTTP, structured output) answering as the
simulated model of `kefu.testing.sim_llm`. The scripts must hold either way, and the
second run checks that the model was really asked whenever stage 1 flagged a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kefu.container import Services, build_services
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult
from kefu.dialogue.manager import ButtonAction, ChatError, ChatRequest, TurnResult
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.domain.types import DEFAULT_TENANT, JsonValue
from kefu.settings import Settings
from kefu.testing.fake_openai import FakeOpenAIServer
from kefu.testing.fakes import FakeOrderService, FakeWriteActions
from kefu.testing.sim_llm import respond_openai

HERE = Path(__file__).parent
SCRIPTS = sorted(HERE.glob("*.yaml"))


@dataclass
class Harness:
    services: Services
    orders: FakeOrderService
    writes: FakeWriteActions
    user_id: str | None
    session_id: str | None = None
    last: TurnResult | None = None
    log: list[str] = field(default_factory=list)

    async def send(self, turn: dict[str, Any]) -> TurnResult | ChatError:
        if turn.get("new_session"):
            self.session_id, self.last = None, None
        if "connector" in turn:
            self.orders.mode = turn["connector"]["orders"]
        action = None
        # YAML reads `yes` as True and digits as numbers: a customer always sends text.
        text = str(turn["user"]) if "user" in turn else None
        if "click" in turn:
            action = self._click(str(turn["click"]))
        elif "action" in turn:
            action = ButtonAction(
                id=turn["action"]["id"], payload=turn["action"].get("payload", {})
            )
        req = ChatRequest(
            tenant=DEFAULT_TENANT,
            session_id=self.session_id,
            user_id=self.user_id,
            text=text,
            action=action,
            lang=turn.get("lang"),
        )
        try:
            result = await self.services.manager.handle(req)
        except ChatError as exc:
            self.log.append(f"  ! error {exc.code}")
            return exc
        self.session_id = result.session_id
        self.last = result
        self.log.append(f"> {text or turn.get('click') or turn.get('action')}")
        self.log += [f"< {r.get('text', r.get('kind'))}" for r in result.replies]
        return result

    def _click(self, label: str) -> ButtonAction:
        assert self.last is not None, "click before any reply"
        for reply in self.last.replies:
            for opt in reply.get("options", []) if reply["type"] == "options" else []:
                if opt["label"] == label:
                    return ButtonAction(id=opt["id"], payload=opt["payload"])
        raise AssertionError(f"no option labelled {label!r} in the last reply")


def _reply_text(result: TurnResult) -> str:
    return "\n".join(str(r.get("text", "")) for r in result.replies)


def _check(h: Harness, turn: dict[str, Any], got: TurnResult | ChatError) -> None:
    where = f"turn {turn!r}\n" + "\n".join(h.log)
    if "error" in turn:
        assert isinstance(got, ChatError) and got.code == turn["error"], where
        return
    assert isinstance(got, TurnResult), f"{where}\nrefused: {got}"
    intent = got.intent
    if "intent" in turn:
        assert intent is not None and intent.name == turn["intent"], f"{where}\nintent={intent}"
    if "stage" in turn:
        assert intent is not None and intent.stage == turn["stage"], where
    if "flow" in turn:
        name = got.flow.name if got.flow else None
        assert name == turn["flow"], f"{where}\nflow={got.flow}"
    if "step" in turn:
        assert got.flow is not None and got.flow.step == turn["step"], f"{where}\nflow={got.flow}"
    if "expecting" in turn:
        assert got.flow is not None and got.flow.expecting == turn["expecting"], where
    for k, v in (turn.get("slots") or {}).items():
        assert got.slots.get(k) == v, f"{where}\nslots={got.slots}"
    text = _reply_text(got)
    for s in _as_list(turn.get("says")):
        assert s in text, f"{where}\nreply text: {text!r}"
    for s in _as_list(turn.get("not_says")):
        assert s not in text, f"{where}\nreply text: {text!r}"
    labels = [o["label"] for r in got.replies if r["type"] == "options" for o in r["options"]]
    for label in _as_list(turn.get("options")):
        assert label in labels, f"{where}\noptions={labels}"
    if "card" in turn:
        kinds = [r["kind"] for r in got.replies if r["type"] == "card"]
        assert turn["card"] in kinds, f"{where}\ncards={kinds}"
    if "answer_source" in turn:
        assert got.answer_source == turn["answer_source"], where
    if "handoff" in turn:
        assert (got.handoff is not None) == bool(turn["handoff"]), where
    if "writes" in turn:
        assert len(h.writes.writes) == turn["writes"], f"{where}\nwrites={h.writes.writes}"
    if "shop_writes" in turn:
        keys = h.orders.write_keys  # every write call passes its idempotency key
        assert len(keys) == turn["shop_writes"], f"{where}\nshop log={h.orders.log}"


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


async def _list_demo_items(ctx: ActionContext) -> ActionResult:
    """Three order lines, two of them the same cup (an order may hold an item twice)."""
    items: list[JsonValue] = [
        {"item_id": "L1", "name": "保温水杯", "color": "蓝色"},
        {"item_id": "L2", "name": "保温水杯", "color": "白色"},
        {"item_id": "L3", "name": "纯棉T恤", "color": "白色"},
    ]
    return ActionResult(status="ok", data={"items": items})


async def _list_demo_variants(ctx: ActionContext) -> ActionResult:
    """Two other variants of the item in slot current_item."""
    item = str(ctx.slots.get("current_item"))
    variants: list[JsonValue] = [
        {"item_id": f"{item}-green", "label": "绿色"},
        {"item_id": f"{item}-black", "label": "黑色"},
    ]
    return ActionResult(status="ok", data={"variants": variants})


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=respond_openai) as server:
        yield server


@pytest.fixture(params=["no_llm", "llm_stage2"])
async def harness_factory(
    request: pytest.FixtureRequest, tmp_path: Path, fake_llm: FakeOpenAIServer
) -> AsyncIterator[Any]:
    made: list[Services] = []
    # Stage 2 only: grounded answers would rightly change the knowledge scripts' wording.
    llm: dict[str, Any] = (
        {"base_url": fake_llm.url, "answers": False} if request.param == "llm_stage2" else {}
    )

    async def make(script: dict[str, Any], script_path: Path) -> Harness:
        flows = [script_path.parent / f for f in script.get("flows", [])]
        settings = Settings(
            llm=llm,
            env="test",
            data_dir=tmp_path,
            flow_paths=flows,
            action_timeout_s=0.2,
            _env_file=None,
            knowledge={"enabled": bool(script.get("knowledge", False))},
        )
        orders = FakeOrderService()
        writes = FakeWriteActions()

        def register(registry: ActionRegistry) -> None:
            writes.register(registry)
            registry.register("list_demo_items", _list_demo_items)
            registry.register("list_demo_variants", _list_demo_variants)

        services = build_services(
            settings, store=InMemoryTrackerStore(), orders=orders, extra_actions=register
        )
        await services.start()
        made.append(services)
        return Harness(
            services=services, orders=orders, writes=writes, user_id=script.get("user_id")
        )

    yield make
    for s in made:
        if llm:
            flagged = s.metrics.registry.get_sample_value("kefu_nlu_stage2_seconds_count") or 0
            asked = sum(
                s.metrics.registry.get_sample_value("kefu_llm_requests_total", labels) or 0
                for labels in ({"model": "Qwen/Qwen3-8B", "purpose": "command", "outcome": "ok"},)
            )
            assert asked == flagged
        await s.close()


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
async def test_conversation(path: Path, harness_factory: Any) -> None:
    script = yaml.safe_load(path.read_text(encoding="utf-8"))
    h = await harness_factory(script, path)
    for turn in script["turns"]:
        got = await h.send(turn)
        _check(h, turn, got)
