"""The dialogue state of one session, rebuilt by replaying its events."""

from __future__ import annotations

from dataclasses import dataclass, field

from kefu.domain.events import (
    ActionExecuted,
    BotUttered,
    Event,
    FlowEnded,
    FlowStarted,
    FlowStepped,
    HandoffRequested,
    IntentRecognized,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from kefu.domain.replies import reply_from_wire, reply_text
from kefu.domain.types import JsonValue, SessionId, TenantId


@dataclass(slots=True, kw_only=True)
class Frame:
    """One flow on the stack and where it stands."""

    frame_id: str
    flow: str
    step: str
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryItem:
    role: str  # user | bot
    text: str
    ts: float


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentState:
    name: str
    confidence: float
    stage: str


@dataclass(slots=True, kw_only=True)
class DialogueState:
    session_id: SessionId
    tenant: TenantId
    user_id: str | None = None
    channel: str = "web"
    lang: str = "zh"
    turn: int = 0
    intent: IntentState | None = None
    slots: dict[str, JsonValue] = field(default_factory=dict)
    flow_stack: list[Frame] = field(default_factory=list)
    history: list[HistoryItem] = field(default_factory=list)
    handoff: HandoffRequested | None = None
    last_action: ActionExecuted | None = None
    last_completed_flow: str | None = None
    # Option ids offered by the latest bot turn: a button click must name one of them.
    offered_options: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    offered_option_groups: dict[str, list[dict[str, JsonValue]]] = field(default_factory=dict)
    offered_labels: dict[str, str] = field(default_factory=dict)
    last_ts: float = 0.0
    started_ts: float = 0.0
    seq: int = 0  # number of events applied (== the next event's sequence number)

    @property
    def active(self) -> Frame | None:
        return self.flow_stack[-1] if self.flow_stack else None

    def llm_history(self, turns: int) -> list[HistoryItem]:
        """The recent history the LLM may see (the store keeps all of it)."""
        return self.history[-turns:]


def apply_event(state: DialogueState, event: Event) -> None:
    """Fold one event into the state. Pure with respect to anything but `state`."""
    state.seq += 1
    state.last_ts = event.ts
    if isinstance(event, SessionStarted):
        state.user_id = event.user_id or state.user_id
        state.channel = event.channel
        state.slots.clear()
        state.flow_stack.clear()
        state.intent = None
        state.handoff = None
        state.last_action = None
        state.last_completed_flow = None
        state.offered_options.clear()
        state.offered_option_groups.clear()
        state.offered_labels.clear()
        state.started_ts = event.ts
    elif isinstance(event, UserUttered):
        state.turn += 1
        state.lang = event.lang
        state.history.append(HistoryItem(role="user", text=event.text, ts=event.ts))
    elif isinstance(event, IntentRecognized):
        state.intent = IntentState(name=event.name, confidence=event.confidence, stage=event.stage)
    elif isinstance(event, SlotSet):
        if event.value is None:
            state.slots.pop(event.name, None)
        else:
            state.slots[event.name] = event.value
    elif isinstance(event, FlowStarted):
        state.flow_stack.append(Frame(frame_id=event.frame_id, flow=event.flow, step=event.step))
    elif isinstance(event, FlowStepped):
        for frame in state.flow_stack:
            if frame.frame_id == event.frame_id:
                frame.step = event.step
                frame.retries = event.retries
    elif isinstance(event, FlowEnded):
        state.flow_stack = [f for f in state.flow_stack if f.frame_id != event.frame_id]
        if event.outcome == "completed":
            state.last_completed_flow = event.flow
    elif isinstance(event, ActionExecuted):
        state.last_action = event
    elif isinstance(event, BotUttered):
        _apply_bot_uttered(state, event)
    elif isinstance(event, HandoffRequested):
        state.handoff = event


def _apply_bot_uttered(state: DialogueState, event: BotUttered) -> None:
    state.offered_options.clear()
    state.offered_option_groups.clear()
    state.offered_labels.clear()
    texts: list[str] = []
    for wire in event.replies:
        reply = reply_from_wire(wire)
        texts.append(reply_text(reply))
        if wire.get("type") == "options":
            group: list[dict[str, JsonValue]] = []
            for opt in wire.get("options") or []:  # type: ignore[union-attr]
                if isinstance(opt, dict):
                    payload = opt.get("payload")
                    p = payload if isinstance(payload, dict) else {}
                    state.offered_options[str(opt.get("id"))] = p
                    state.offered_labels[str(opt.get("id"))] = str(opt.get("label", ""))
                    group.append(p)
            gid = wire.get("id")
            if gid is not None:
                state.offered_option_groups[str(gid)] = group
    state.history.append(HistoryItem(role="bot", text="\n".join(texts), ts=event.ts))


def replay(
    session_id: SessionId, tenant: TenantId, events: list[Event], *, default_lang: str = "zh"
) -> DialogueState:
    state = DialogueState(session_id=session_id, tenant=tenant, lang=default_lang)
    for e in events:
        apply_event(state, e)
    return state


@dataclass(slots=True)
class Tracker:
    """A state plus the events of the current turn that are not stored yet."""

    state: DialogueState
    pending: list[Event] = field(default_factory=list)

    def record(self, event: Event) -> None:
        apply_event(self.state, event)
        self.pending.append(event)

    def take_pending(self) -> list[Event]:
        out, self.pending = self.pending, []
        return out
