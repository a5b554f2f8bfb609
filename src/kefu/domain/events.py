"""Past-tense events: the append-only log a session's state is rebuilt from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kefu.domain.types import JsonValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. `ts` is seconds since the epoch (float)."""

    type_name: ClassVar[str] = "event"
    ts: float

    def to_data(self) -> dict[str, JsonValue]:
        return {name: _to_json(getattr(self, name)) for name in _data_fields(type(self))}


_FIELDS: dict[str, tuple[str, ...]] = {}


def _data_fields(cls: type[Event]) -> tuple[str, ...]:
    """The stored fields of an event class (all but `ts`), computed once per class."""
    names = _FIELDS.get(cls.type_name)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "ts")
        _FIELDS[cls.type_name] = names
    return names


def _to_json(v: Any) -> JsonValue:
    if isinstance(v, tuple):
        return [_to_json(x) for x in v]
    return v  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    """A new conversation begins (first contact, or after the idle timeout): state resets."""

    type_name: ClassVar[str] = "session_started"
    user_id: str | None = None
    channel: str = "web"
    reason: str = "new"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUttered(Event):
    type_name: ClassVar[str] = "user_uttered"
    text: str
    lang: str
    action_id: str | None = None
    payload: dict[str, JsonValue] | None = None
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentRecognized(Event):
    type_name: ClassVar[str] = "intent_recognized"
    name: str
    confidence: float
    stage: str
    entities: list[dict[str, JsonValue]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotSet(Event):
    type_name: ClassVar[str] = "slot_set"
    name: str
    value: JsonValue


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStarted(Event):
    type_name: ClassVar[str] = "flow_started"
    flow: str
    frame_id: str
    step: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStepped(Event):
    """The top frame moved to `step` (waiting there for the customer, or passing through)."""

    type_name: ClassVar[str] = "flow_stepped"
    frame_id: str
    step: str
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowEnded(Event):
    """The frame left the stack: completed, cancelled by the customer, or failed."""

    type_name: ClassVar[str] = "flow_ended"
    frame_id: str
    flow: str
    outcome: str  # completed | cancelled | failed | handed_off


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionExecuted(Event):
    type_name: ClassVar[str] = "action_executed"
    name: str
    status: str
    data: dict[str, JsonValue] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BotUttered(Event):
    type_name: ClassVar[str] = "bot_uttered"
    replies: list[dict[str, JsonValue]]
    answer_source: str
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequested(Event):
    type_name: ClassVar[str] = "handoff_requested"
    reason: str
    queue: str = "default"
    ticket_id: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        SessionStarted,
        UserUttered,
        IntentRecognized,
        SlotSet,
        FlowStarted,
        FlowStepped,
        FlowEnded,
        ActionExecuted,
        BotUttered,
        HandoffRequested,
    )
}


def event_from_data(type_name: str, ts: float, data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored form. Unknown fields are ignored (forward compatible)."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names and k != "ts"}
    return cls(ts=ts, **kwargs)
