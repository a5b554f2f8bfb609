"""The command generator: parsing, validation against the flows, prompts (snapshots)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from kefu.dialogue.flow_model import load_flows
from kefu.llm.commands import (
    COMMAND_SCHEMA,
    ActiveStep,
    Command,
    CommandContext,
    CommandGenerator,
    FlowCatalog,
    decide,
    parse_commands,
)
from kefu.nlu.base import Entity, NluResult
from kefu.nlu.clarify import IntentLabels
from kefu.testing.fake_llm import FakeChatModel

SNAPSHOTS = Path(__file__).parent / "snapshots"
MESSAGE = "I bought a mug, order KF20260101001, it arrived broken, what can I do"


@pytest.fixture(scope="module")
def catalog() -> FlowCatalog:
    return FlowCatalog(load_flows([]), IntentLabels.default())


def generator(catalog: FlowCatalog, reply: str = '{"commands": []}') -> CommandGenerator:
    return CommandGenerator(FakeChatModel(reply), catalog, timeout_s=1.0)


def ctx(message: str = MESSAGE, **kw: object) -> CommandContext:
    stage1 = NluResult(
        intent="complaint",
        confidence=0.41,
        stage="classifier",
        entities=(Entity(type="order_id", value="KF20260101001", start=21, end=34),),
        candidates=(("complaint", 0.41), ("logistics_tracking", 0.15)),
        needs_llm=True,
        reason="low_confidence",
    )
    base: dict[str, object] = {
        "lang": "en",
        "message": message,
        "original": message,
        "stage1": stage1,
        "history": (("user", "hi"), ("bot", "Hello! How can I help?")),
    }
    base.update(kw)
    return CommandContext(**base)  # type: ignore[arg-type]


def test_parse_accepts_fenced_json_and_drops_malformed_items() -> None:
    text = (
        '```json\n{"commands": [{"command": "start_flow", "flow": "return_request"}, 7, '
        '{"command": "fly"}]}\n```'
    )
    assert parse_commands(text) == [Command(name="start_flow", flow="return_request")]
    assert parse_commands("not json at all") == []
    assert parse_commands('{"commands": "start_flow"}') == []


def test_schema_is_strict_compatible() -> None:
    items = COMMAND_SCHEMA["properties"]["commands"]["items"]["anyOf"]  # type: ignore[index,call-overload]
    names = set()
    for variant in items:
        assert variant["additionalProperties"] is False
        assert set(variant["required"]) == set(variant["properties"])
        names.update(variant["properties"]["command"]["enum"])
    assert names == {
        "start_flow", "set_slot", "correct_slot", "cancel_flow",
        "answer_from_kb", "handoff", "chitchat", "clarify",
    }  # fmt: skip


def test_validation_drops_unknown_flows_slots_and_made_up_values(catalog: FlowCatalog) -> None:
    g = generator(catalog)
    cmds = [
        Command(name="start_flow", flow="transfer_money"),  # unknown flow
        Command(name="start_flow", flow="return_request"),
        Command(name="set_slot", slot="order_id", value="KF20260101001"),
        Command(name="set_slot", slot="order_id", value="KF29999999999"),  # not in the message
        Command(name="set_slot", slot="refund_to", value="mug"),  # not a slot of the flow
        Command(name="start_flow", flow="cancel_order"),  # a second flow
        Command(name="clarify", intents=("fly", "swim")),
    ]
    kept = g.validate(cmds, ctx())
    # Only three are looked at (MAX_COMMANDS): the unknown flow goes, the rest stay.
    assert kept == [
        Command(name="start_flow", flow="return_request"),
        Command(name="set_slot", slot="order_id", value="KF20260101001"),
    ]
    # With no flow started or active, a slot has nowhere to go.
    assert g.validate(cmds[3:], ctx()) == [Command(name="start_flow", flow="cancel_order")]


def test_set_slot_needs_the_active_step_and_correct_slot_a_filled_one(
    catalog: FlowCatalog,
) -> None:
    g = generator(catalog)
    active = ActiveStep(
        flow="return_request", step="ask_order", slot="order_id", entity="order_id",
        filled=("identity_text",),
    )  # fmt: skip
    c = ctx(active=active)
    assert g.validate([Command(name="set_slot", slot="order_id", value="kf20260101001")], c)
    assert not g.validate([Command(name="set_slot", slot="identity_text", value="mug")], c)
    assert g.validate([Command(name="correct_slot", slot="identity_text", value="mug")], c)
    assert not g.validate([Command(name="cancel_flow")], ctx())  # nothing to cancel
    assert g.validate([Command(name="cancel_flow")], c)


def test_an_option_label_is_a_grounded_value(catalog: FlowCatalog) -> None:
    active = ActiveStep(
        flow="return_request", step="ask_refund", slot="payment_method_id",
        entity="payment_method_id", options={"Gift card": {"payment_method_id": "gift_1"}},
    )  # fmt: skip
    c = ctx("the second one please", active=active)
    kept = generator(catalog).validate(
        [Command(name="set_slot", slot="payment_method_id", value="Gift card")], c
    )
    decision = decide(kept, c, catalog)
    assert decision.route == "flow"
    assert decision.payload == {"payment_method_id": "gift_1"}


def test_decide_maps_commands_to_a_flow_turn(catalog: FlowCatalog) -> None:
    c = ctx()
    cmds = [
        Command(name="start_flow", flow="return_request"),
        Command(name="set_slot", slot="order_id", value="KF20260101001"),
    ]
    d = decide(cmds, c, catalog)
    assert d.route == "flow" and d.nlu is not None
    assert d.nlu.intent == "return_request" and d.nlu.stage == "llm"
    assert d.nlu.confidence >= 0.6
    order = d.nlu.entity("order_id")
    assert order is not None and order.value == "KF20260101001"
    stop = decide([Command(name="cancel_flow")], c, catalog)
    assert stop.nlu is not None and "stop" in stop.nlu.acts
    kb = decide(
        [Command(name="answer_from_kb", query="return policy for broken items")], c, catalog
    )
    assert kb.route == "kb" and kb.query == "return policy for broken items"
    clar = decide(
        [Command(name="clarify", intents=("return_request", "exchange_request"))], c, catalog
    )
    assert clar.route == "clarify" and clar.nlu is not None and clar.nlu.needs_llm
    assert decide([], c, catalog).route == "none"


async def test_generate_sends_schema_and_low_temperature(catalog: FlowCatalog) -> None:
    reply = '{"commands": [{"command": "start_flow", "flow": "return_request"}]}'
    model = FakeChatModel(reply)
    g = CommandGenerator(model, catalog, timeout_s=1.5, temperature=0.0, max_tokens=128)
    assert await g.generate(ctx()) == [Command(name="start_flow", flow="return_request")]
    sent = model.requests[0]
    assert sent.purpose == "command" and sent.json_schema == COMMAND_SCHEMA
    assert sent.temperature == 0.0 and sent.max_tokens == 128 and sent.timeout_s == 1.5


def test_system_prompt_is_the_same_for_every_turn(catalog: FlowCatalog) -> None:
    """vLLM's prefix cache only hits when every request starts with the same tokens."""
    g = generator(catalog)
    for lang in ("zh", "en"):
        a = g.messages(ctx(lang=lang))
        b = g.messages(ctx("where is my parcel", lang=lang, history=()))
        assert a[0] == b[0]
        assert a[1] != b[1]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_prompt_snapshot(catalog: FlowCatalog, lang: str) -> None:
    """The prompts as sent; set KEFU_UPDATE_SNAPSHOTS=1 to accept a deliberate change."""
    active = ActiveStep(
        flow="return_request", step="ask_order", slot="order_id", entity="order_id",
        options={"KF20260101001 杯子": {"order_id": "KF20260101001"}}, filled=("identity_text",),
    )  # fmt: skip
    messages = generator(catalog).messages(ctx(lang=lang, active=active))
    got = "\n\n=====\n\n".join(f"[{m.role}]\n{m.content}" for m in messages) + "\n"
    path = SNAPSHOTS / f"command_{lang}.txt"
    if os.environ.get("KEFU_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_schema_is_json() -> None:
    assert orjson.loads(orjson.dumps(COMMAND_SCHEMA)) == COMMAND_SCHEMA
