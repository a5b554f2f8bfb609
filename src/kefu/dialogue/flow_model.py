"""Flows declared in YAML: typed, validated at load time so a bad flow fails at start-up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kefu.domain.types import JsonValue

StepKind = Literal[
    "collect", "confirm", "action", "answer", "handoff", "branch", "set", "call", "end"
]
END = "end"  # a `goto` target that ends the flow


class FlowError(ValueError):
    """A flow file is invalid."""


class LocalText(BaseModel):
    """A text in Chinese and English. A plain string in YAML serves both languages."""

    model_config = ConfigDict(frozen=True)
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


def _coerce_text(v: Any) -> Any:
    if isinstance(v, str):
        return {"zh": v, "en": v}
    return v


class OptionSpec(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: LocalText
    payload: dict[str, JsonValue] = Field(default_factory=dict)

    _t = field_validator("label", mode="before")(_coerce_text)


class Condition(BaseModel):
    """`result` compares the last action's status; `slot` a slot's value."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)
    result: str | None = None
    slot: str | None = None
    equals: JsonValue = None
    in_: list[JsonValue] | None = Field(default=None, alias="in")
    is_set: bool | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> Condition:
        if (self.result is None) == (self.slot is None):
            raise ValueError("a condition names exactly one of `result` or `slot`")
        return self


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)
    if_: Condition | None = Field(default=None, alias="if")
    goto: str


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # collect
    collect: str | None = None
    entity: str | None = None  # entity type that fills the slot; default: the slot name
    from_text: bool = False  # else take the whole message as the value
    prefill_text: bool = False  # the message that started the flow fills this slot...
    # ...when it is at least this long (a CJK character counts 1, a Latin word 2): "我要投诉"
    # alone is the request, not the complaint, and the step asks for the details.
    prefill_min: int = Field(default=0, ge=0, le=500)
    validate_with: str | None = Field(default=None, alias="validate")
    ask: LocalText | None = None
    reask: LocalText | None = None
    max_retries: int = Field(default=2, ge=0, le=10)
    on_fail: str | None = None
    reuse: bool = False  # keep a value set before the flow started
    options: list[OptionSpec] = Field(default_factory=list)
    # options built from a list slot: one button per entry (orders, order lines, cards ...)
    options_from: str | None = None
    option_label: LocalText | None = None  # template over one entry
    option_value: str | None = None  # the entry field that becomes the slot value
    multi: bool = False  # several choices at once: the slot holds a list
    # confirm
    confirm: LocalText | None = None
    on_no: str | None = None
    # action
    action: str | None = None
    result_slot: str | None = None
    with_: dict[str, JsonValue] = Field(default_factory=dict, alias="with")  # action parameters
    save: dict[str, str] = Field(default_factory=dict)  # slot <- field of the action's data
    # answer / handoff
    answer: LocalText | None = None
    card: str | None = None  # slot holding the card data
    card_kind: str | None = None
    handoff: LocalText | None = None
    queue: str = "default"
    # set
    set: dict[str, JsonValue] | None = None
    # call: run another flow (e.g. identity verification), then continue after this step
    call: str | None = None
    # end
    end: bool = False
    next: str | list[Transition] | None = None

    _t = field_validator(
        "ask", "reask", "confirm", "answer", "handoff", "option_label", mode="before"
    )(_coerce_text)

    @property
    def kind(self) -> StepKind:
        present: list[StepKind] = []
        if self.collect is not None:
            present.append("collect")
        if self.confirm is not None:
            present.append("confirm")
        if self.action is not None:
            present.append("action")
        if self.handoff is not None:
            present.append("handoff")
        if self.set is not None:
            present.append("set")
        if self.call is not None:
            present.append("call")
        if self.end:
            present.append("end")
        if self.answer is not None and not present:
            present.append("answer")
        if not present:
            return "branch"
        return present[0]

    @model_validator(mode="after")
    def _shape(self) -> Step:
        kinds = [
            k
            for k, v in (
                ("collect", self.collect),
                ("confirm", self.confirm),
                ("action", self.action),
                ("handoff", self.handoff),
                ("set", self.set),
                ("call", self.call),
            )
            if v is not None
        ]
        if len(kinds) > 1:
            raise ValueError(f"step {self.id!r} mixes {kinds}; one kind per step")
        if self.collect is not None and self.ask is None:
            raise ValueError(f"collect step {self.id!r} needs `ask`")
        if (self.multi or self.options_from) and self.collect is None:
            raise ValueError(f"step {self.id!r}: `multi`/`options_from` belong to collect steps")
        if self.multi and self.options_from is None and not self.options:
            raise ValueError(f"step {self.id!r}: a multiple choice needs options")
        if self.kind == "branch" and not isinstance(self.next, list):
            raise ValueError(f"step {self.id!r} does nothing: give it a kind or a list of `next`")
        return self

    def targets(self) -> Iterable[str]:
        if isinstance(self.next, str):
            yield self.next
        elif isinstance(self.next, list):
            yield from (t.goto for t in self.next)
        for t in (self.on_fail, self.on_no):
            if t is not None:
                yield t


class Flow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: LocalText | None = None
    description: str = ""
    intents: list[str] = Field(default_factory=list)
    # May this flow interrupt another one (a digression), to resume it afterwards?
    interrupts: bool = True
    steps: list[Step] = Field(min_length=1)

    _t = field_validator("title", mode="before")(_coerce_text)

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) if self.title else self.name

    @model_validator(mode="after")
    def _links(self) -> Flow:
        ids = [s.id for s in self.steps]
        reserved = {END, "handoff"} & set(ids)
        if reserved:
            raise ValueError(f"flow {self.name!r}: step ids {sorted(reserved)} are reserved")
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"flow {self.name!r}: duplicate step ids {sorted(dupes)}")
        known = {*ids, END, "handoff"}
        for s in self.steps:
            for t in s.targets():
                if t not in known:
                    raise ValueError(f"flow {self.name!r} step {s.id!r}: unknown target {t!r}")
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def following(self, step_id: str) -> str:
        """The id of the step after `step_id` in file order, or END."""
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return self.steps[i + 1].id if i + 1 < len(self.steps) else END
        return END

    def collected_slots(self) -> list[str]:
        return [s.collect for s in self.steps if s.collect is not None]


_TEMPLATE = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def resolve(path: str, slots: dict[str, JsonValue]) -> JsonValue:
    """The value at `slot` or `slot.field...`, or None."""
    cur: JsonValue = slots
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def set_value(value: JsonValue, slots: dict[str, JsonValue]) -> JsonValue:
    """A `set:` value: "{slot}" alone copies the slot's value as it is (a list stays a list);
    other strings with placeholders are rendered; anything else is taken literally."""
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value)
        if whole:
            return resolve(whole.group(1), slots)
        if "{" in value:
            return render(value, slots)
    return value


def render(template: str, slots: dict[str, JsonValue]) -> str:
    """Fill `{slot}` and `{slot.field}` from slot values; unknown names render empty.
    A float is an amount of money in a flow's texts and shows two decimals (158.00)."""

    def sub(m: re.Match[str]) -> str:
        cur = resolve(m.group(1), slots)
        if cur is None:
            return ""
        if isinstance(cur, list):
            return ", ".join(str(x) for x in cur if x is not None)
        if isinstance(cur, float):
            return f"{cur:.2f}"
        return str(cur)

    return _TEMPLATE.sub(sub, template)


class FlowRegistry:
    def __init__(self, flows: Iterable[Flow]) -> None:
        self._flows: dict[str, Flow] = {}
        self._by_intent: dict[str, str] = {}
        for f in flows:
            self.add(f)

    def add(self, flow: Flow) -> None:
        """Add or replace a flow (a shop's flow file may override a built-in one)."""
        old = self._flows.get(flow.name)
        if old is not None:
            for intent in old.intents:
                self._by_intent.pop(intent, None)
        self._flows[flow.name] = flow
        for intent in flow.intents:
            self._by_intent[intent] = flow.name

    def get(self, name: str) -> Flow | None:
        return self._flows.get(name)

    def check_calls(self) -> None:
        """Every `call:` names a known flow (checked once all files are loaded)."""
        for flow in self._flows.values():
            for step in flow.steps:
                if step.call is not None and step.call not in self._flows:
                    raise FlowError(
                        f"flow {flow.name!r} step {step.id!r} calls unknown flow {step.call!r}"
                    )

    def for_intent(self, intent: str) -> Flow | None:
        name = self._by_intent.get(intent)
        return self._flows.get(name) if name else None

    def names(self) -> list[str]:
        return sorted(self._flows)


def parse_flows(text: str, *, source: str = "<string>") -> list[Flow]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowError(f"{source}: not valid YAML: {exc}") from exc
    items = raw.get("flows") if isinstance(raw, dict) and "flows" in raw else [raw]
    if not isinstance(items, list):
        raise FlowError(f"{source}: expected a flow or a `flows:` list")
    try:
        return [Flow.model_validate(item) for item in items]
    except ValidationError as exc:
        raise FlowError(f"{source}: {exc}") from exc


def load_flows(extra_paths: Iterable[Path] = ()) -> FlowRegistry:
    """Built-in flows, then the shop's files (which may replace built-ins by name)."""
    flows: list[Flow] = []
    pkg = resources.files("kefu.dialogue").joinpath("flows")
    for entry in sorted(pkg.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            flows += parse_flows(entry.read_text(encoding="utf-8"), source=entry.name)
    for path in extra_paths:
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for f in files:
            flows += parse_flows(f.read_text(encoding="utf-8"), source=str(f))
    registry = FlowRegistry(flows)
    registry.check_calls()
    return registry
