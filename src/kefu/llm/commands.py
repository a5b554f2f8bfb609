"""NLU stage 2: the LLM as a command generator.

Stage 1 (rules + classifier) settles most messages in a few milliseconds. What it flags
(`NluResult.needs_llm`) goes here: the model reads the recent history, the active flow and
what it waits for, stage 1's guesses, and the flows and intents the shop has, and returns
JSON commands. Every command is validated before anything uses it — unknown flows, slots
and intents are dropped with a log line, and a slot value must be something the customer
actually wrote (or an option they were shown) — and then it only *steers the flow engine*:
starting a flow, filling the slot a step asks for, cancelling. Writes stay behind the
flows' identity checks and "yes" confirmations; the model has no tool that writes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import orjson

from kefu.dialogue.flow_model import Flow, FlowRegistry
from kefu.domain.types import JsonValue
from kefu.llm.base import ChatMessage, ChatModel, LlmRequest
from kefu.llm.prompts import render
from kefu.nlu.base import OUT_OF_SCOPE, Entity, NluResult
from kefu.nlu.clarify import IntentLabels

log = logging.getLogger(__name__)

CommandName = Literal[
    "start_flow",
    "set_slot",
    "correct_slot",
    "cancel_flow",
    "answer_from_kb",
    "handoff",
    "chitchat",
    "clarify",
]
COMMANDS: tuple[CommandName, ...] = get_args(CommandName)
MAX_COMMANDS = 3
MAX_VALUE_CHARS = 200
MAX_REPLY_CHARS = 200
MAX_QUERY_CHARS = 300
HANDOFF_INTENT = "human_agent"


def _variant(name: str, **props: dict[str, JsonValue]) -> dict[str, JsonValue]:
    properties: dict[str, JsonValue] = {"command": {"type": "string", "enum": [name]}}
    properties.update(props)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_STR: dict[str, JsonValue] = {"type": "string"}
# The structured-output schema (vLLM enforces it with guided decoding). Written so that the
# strict mode of OpenAI-style servers accepts it too: every property required, no extras.
COMMAND_SCHEMA: dict[str, JsonValue] = {
    "type": "object",
    "properties": {
        "commands": {
            "type": "array",
            "maxItems": MAX_COMMANDS,
            "items": {
                "anyOf": [
                    _variant("start_flow", flow=_STR),
                    _variant("set_slot", slot=_STR, value=_STR),
                    _variant("correct_slot", slot=_STR, value=_STR),
                    _variant("cancel_flow"),
                    _variant("answer_from_kb", query=_STR),
                    _variant("handoff", reason=_STR),
                    _variant("chitchat", reply=_STR),
                    _variant("clarify", intents={"type": "array", "items": _STR, "maxItems": 3}),
                ]
            },
        }
    },
    "required": ["commands"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: CommandName
    flow: str = ""
    slot: str = ""
    value: str = ""
    query: str = ""
    reply: str = ""
    reason: str = ""
    intents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveStep:
    """Where the active flow stands, as the command generator sees it."""

    flow: str
    step: str
    slot: str | None  # the slot the step collects, if it collects one
    entity: str | None  # the entity type that fills it
    # Options the customer was shown at this step: label -> the option's payload.
    options: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    filled: tuple[str, ...] = ()  # slots of the flow that have values (correctable)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    lang: str
    message: str  # as the model sees it (masked)
    history: Sequence[tuple[str, str]] = ()  # (role, text), oldest first, masked
    active: ActiveStep | None = None
    stage1: NluResult | None = None
    # Turns a masked value from the model back into what the customer wrote.
    unmask: Callable[[str], str] = str
    original: str = ""  # the message as the customer wrote it (for grounding values)


Route = Literal["flow", "kb", "chitchat", "clarify", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage2Decision:
    """What the validated commands amount to for this turn."""

    route: Route
    commands: tuple[Command, ...] = ()
    nlu: NluResult | None = None  # for route "flow" and "clarify"
    payload: dict[str, JsonValue] | None = None  # an option the customer named in words
    query: str = ""  # for route "kb"
    reply: str = ""  # for route "chitchat"
    model_failed: bool = False  # route "none" because the model call failed


class FlowCatalog:
    """The flows the model may start and the slots it may fill, from the flow registry."""

    def __init__(self, flows: FlowRegistry, labels: IntentLabels) -> None:
        self._flows = flows
        self._labels = labels
        self.startable: dict[str, Flow] = {}
        for name in flows.names():
            flow = flows.get(name)
            if flow is not None and flow.intents:
                self.startable[name] = flow
        self.intents: tuple[str, ...] = tuple(
            sorted({*labels.names, *(i for f in self.startable.values() for i in f.intents)})
        )
        self._text: dict[str, str] = {}

    def flow(self, name: str) -> Flow | None:
        return self._flows.get(name)

    def slot_entity(self, flow: Flow, slot: str) -> str | None:
        """The entity type of a slot the flow collects (None: not one of its slots)."""
        for step in flow.steps:
            if step.collect == slot:
                return step.entity or step.collect
        return None

    def describe(self, lang: str) -> tuple[str, str]:
        """(flows, intents) as prompt text; identical for every turn of a language."""
        if lang not in self._text:
            lines = []
            for name, flow in sorted(self.startable.items()):
                what = flow.description or flow.title_in(lang)
                slots = ", ".join(dict.fromkeys(flow.collected_slots())) or "-"
                intents = ", ".join(flow.intents)
                lines.append(f"- {name}: {what}; intents: {intents}; slots: {slots}")
            self._text[lang] = "\n".join(lines)
            self._text[lang + ":intents"] = ", ".join(
                f"{i} ({self._labels.label(i, lang)})" for i in self.intents
            )
        return self._text[lang], self._text[lang + ":intents"]


class CommandGenerator:
    """Asks the model for commands and validates them. Raises `LlmError` when the model
    fails; returns an empty list when it answers with nothing usable."""

    def __init__(
        self,
        model: ChatModel,
        catalog: FlowCatalog,
        *,
        timeout_s: float,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        self._model = model
        self.catalog = catalog
        self._timeout_s = timeout_s
        self._max_tokens = max_tokens
        self._temperature = temperature

    def messages(self, ctx: CommandContext) -> tuple[ChatMessage, ...]:
        lang = ctx.lang if ctx.lang in ("zh", "en") else "en"
        flows, intents = self.catalog.describe(lang)
        system = render("command", lang, flows=flows, intents=intents)
        turn = render(
            "command_turn",
            lang,
            history=_history_text(ctx.history, lang),
            active=_active_text(ctx.active, lang),
            candidates=_candidates_text(ctx.stage1),
            message=ctx.message,
        )
        return (ChatMessage(role="system", content=system), ChatMessage(role="user", content=turn))

    async def generate(self, ctx: CommandContext) -> list[Command]:
        request = LlmRequest(
            messages=self.messages(ctx),
            purpose="command",
            json_schema=COMMAND_SCHEMA,
            schema_name="commands",
            max_tokens=self._max_tokens,
            temperature=self._temperature,
            timeout_s=self._timeout_s,
        )
        response = await self._model.complete(request)
        return self.validate(parse_commands(response.text), ctx)

    def validate(self, commands: Sequence[Command], ctx: CommandContext) -> list[Command]:
        """The commands that name known things and carry values the customer gave."""
        kept: list[Command] = []
        started: Flow | None = None
        for cmd in commands[:MAX_COMMANDS]:
            checked = self._check(cmd, ctx, started)
            if checked is None:
                continue
            if checked.name == "start_flow":
                if started is not None:
                    log.info("llm.command_dropped command=start_flow why=second_flow")
                    continue
                started = self.catalog.flow(checked.flow)
            kept.append(checked)
        return kept

    def _check(self, cmd: Command, ctx: CommandContext, started: Flow | None) -> Command | None:
        def drop(why: str) -> None:
            log.info("llm.command_dropped command=%s why=%s", cmd.name, why)

        if cmd.name == "start_flow":
            if cmd.flow not in self.catalog.startable:
                drop("unknown_flow")
                return None
            return cmd
        if cmd.name in ("set_slot", "correct_slot"):
            value = _grounded_value(cmd.value, ctx)
            if value is None:
                drop("value_not_in_message")
                return None
            if not self._slot_known(cmd, ctx, started):
                drop("unknown_slot")
                return None
            return Command(name=cmd.name, slot=cmd.slot, value=value)
        if cmd.name == "cancel_flow":
            if ctx.active is None:
                drop("no_active_flow")
                return None
            return cmd
        if cmd.name == "answer_from_kb":
            query = " ".join(ctx.unmask(cmd.query).split())[:MAX_QUERY_CHARS]
            return Command(name=cmd.name, query=query or ctx.original)
        if cmd.name == "handoff":
            return Command(name=cmd.name, reason=cmd.reason[:100])
        if cmd.name == "chitchat":
            reply = cmd.reply.strip()
            if not reply or len(reply) > MAX_REPLY_CHARS or "[" in reply:
                drop("bad_reply")
                return None
            return cmd
        known = [i for i in dict.fromkeys(cmd.intents) if i in self.catalog.intents]
        if len(known) < 2:
            drop("unknown_intents")
            return None
        return Command(name="clarify", intents=tuple(known[:3]))

    def _slot_known(self, cmd: Command, ctx: CommandContext, started: Flow | None) -> bool:
        active = ctx.active
        if started is not None:
            return self.catalog.slot_entity(started, cmd.slot) is not None
        if active is None:
            return False
        if cmd.name == "set_slot":
            return cmd.slot == active.slot
        return cmd.slot in active.filled


def parse_commands(text: str) -> list[Command]:
    """Commands from the model's JSON; malformed items are dropped with a log line."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        log.info("llm.commands_unparsed why=no_json chars=%d", len(text))
        return []
    try:
        data = orjson.loads(body[start : end + 1])
    except orjson.JSONDecodeError:
        log.info("llm.commands_unparsed why=bad_json chars=%d", len(text))
        return []
    items = data.get("commands") if isinstance(data, dict) else None
    if not isinstance(items, list):
        log.info("llm.commands_unparsed why=no_commands_list")
        return []
    out: list[Command] = []
    for item in items:
        cmd = _command(item)
        if cmd is None:
            log.info("llm.command_dropped why=malformed")
            continue
        out.append(cmd)
    return out


def _command(item: object) -> Command | None:
    if not isinstance(item, dict):
        return None
    name = item.get("command")
    if name not in COMMANDS:
        return None

    def s(key: str, limit: int = MAX_VALUE_CHARS) -> str:
        v = item.get(key)
        return v.strip()[:limit] if isinstance(v, str) else ""

    intents = item.get("intents")
    return Command(
        name=name,
        flow=s("flow"),
        slot=s("slot"),
        value=s("value"),
        query=s("query", MAX_QUERY_CHARS),
        reply=s("reply", MAX_REPLY_CHARS + 1),
        reason=s("reason"),
        intents=tuple(i for i in intents if isinstance(i, str))[:3]
        if isinstance(intents, list)
        else (),
    )


_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub("", text).casefold()


def _grounded_value(raw: str, ctx: CommandContext) -> str | None:
    """The value as the customer gave it, or None if they did not give it.

    A value must occur in this message (ignoring case and spaces), or be the label of an
    option the customer was shown: the model may pick out a value, never make one up."""
    value = ctx.unmask(raw).strip()
    if not value:
        return None
    original = ctx.original or ctx.message
    if _squash(value) in _squash(original):
        return value
    if ctx.active is not None and value in ctx.active.options:
        return value
    return None


def decide(
    commands: Sequence[Command], ctx: CommandContext, catalog: FlowCatalog
) -> Stage2Decision:
    """Turn validated commands into what the dialogue manager does with this turn."""
    stage1 = ctx.stage1 or NluResult(intent=OUT_OF_SCOPE, confidence=0.0, stage="rule")
    names = {c.name for c in commands}
    flowish = names & {"start_flow", "set_slot", "correct_slot", "cancel_flow", "handoff"}
    if flowish:
        return _flow_decision(commands, ctx, catalog, stage1)
    for cmd in commands:
        if cmd.name == "answer_from_kb":
            return Stage2Decision(route="kb", commands=tuple(commands), query=cmd.query)
    for cmd in commands:
        if cmd.name == "clarify":
            nlu = NluResult(
                intent=cmd.intents[0],
                confidence=0.5,
                stage="llm",
                entities=stage1.entities,
                candidates=tuple((i, 0.5) for i in cmd.intents),
                needs_llm=True,
                reason="low_confidence",
            )
            return Stage2Decision(route="clarify", commands=tuple(commands), nlu=nlu)
    for cmd in commands:
        if cmd.name == "chitchat":
            return Stage2Decision(route="chitchat", commands=tuple(commands), reply=cmd.reply)
    return Stage2Decision(route="none")


def _flow_decision(
    commands: Sequence[Command], ctx: CommandContext, catalog: FlowCatalog, stage1: NluResult
) -> Stage2Decision:
    intent, confidence = OUT_OF_SCOPE, 0.0
    acts: set[str] = set(stage1.acts & {"affirm", "deny"})
    entities: list[Entity] = []
    payload: dict[str, JsonValue] | None = None
    started: Flow | None = None
    for cmd in commands:
        if cmd.name == "start_flow":
            started = catalog.flow(cmd.flow)
            if started is not None:
                intent, confidence = started.intents[0], 0.9
        elif cmd.name == "handoff" and started is None:
            intent, confidence = HANDOFF_INTENT, 0.9
        elif cmd.name == "cancel_flow":
            acts.add("stop")
        elif cmd.name in ("set_slot", "correct_slot"):
            if cmd.name == "correct_slot":
                acts.add("correct")
            active = ctx.active
            if started is None and active is not None and cmd.value in active.options:
                payload = dict(active.options[cmd.value])
                continue
            flow = started or (catalog.flow(active.flow) if active is not None else None)
            etype = catalog.slot_entity(flow, cmd.slot) if flow is not None else None
            if etype is None:
                continue
            known = stage1.entity(etype)  # stage 1's reading is normalised: prefer it
            if known is not None and _squash(known.value) == _squash(cmd.value):
                entities.append(known)
                continue
            at = ctx.original.find(cmd.value)
            start = max(at, 0)
            entities.append(
                Entity(type=etype, value=cmd.value, start=start, end=start + len(cmd.value))
            )
    taken = {e.type for e in entities}
    entities.extend(e for e in stage1.entities if e.type not in taken)
    nlu = NluResult(
        intent=intent,
        confidence=confidence,
        stage="llm",
        entities=tuple(entities),
        acts=frozenset(acts),
        candidates=stage1.candidates,
    )
    return Stage2Decision(route="flow", commands=tuple(commands), nlu=nlu, payload=payload)


def _history_text(history: Sequence[tuple[str, str]], lang: str) -> str:
    who = (
        {"user": "顾客", "bot": "客服"}
        if lang == "zh"
        else {"user": "customer", "bot": "assistant"}
    )
    lines = [f"{who.get(role, role)}: {' '.join(text.split())[:300]}" for role, text in history]
    return "\n".join(lines) or "-"


def _active_text(active: ActiveStep | None, lang: str) -> str:
    if active is None:
        return "无" if lang == "zh" else "none"
    parts = [f"{active.flow} (step {active.step})"]
    if active.slot:
        parts.append(f"waiting for slot {active.slot}")
    if active.options:
        parts.append("options shown: " + " | ".join(list(active.options)[:10]))
    if active.filled:
        parts.append("filled: " + ", ".join(active.filled))
    return "; ".join(parts)


def _candidates_text(nlu: NluResult | None) -> str:
    if nlu is None or not nlu.candidates:
        return "-"
    return ", ".join(f"{name}: {score:.2f}" for name, score in nlu.candidates[:3])


__all__ = [
    "COMMAND_SCHEMA",
    "ActiveStep",
    "Command",
    "CommandContext",
    "CommandGenerator",
    "FlowCatalog",
    "Stage2Decision",
    "decide",
    "parse_commands",
]
