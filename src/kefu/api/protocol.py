"""Wire models of the chat API (DESIGN.md §3) and their conversion from turn results."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu.dialogue.manager import TurnResult
from kefu.dialogue.tracker import DialogueState
from kefu.domain.types import JsonValue


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    payload: dict[str, JsonValue] = Field(default_factory=dict)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session_id: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=128)
    channel: str = Field(default="web", pattern=r"^[a-z0-9_-]{1,32}$")
    text: str | None = None
    action: ActionIn | None = None
    lang: Literal["zh", "en"] | None = None


class IntentOut(BaseModel):
    name: str
    confidence: float
    stage: str


class FlowOut(BaseModel):
    name: str
    step: str
    expecting: str | None


class SourceOut(BaseModel):
    id: str
    title: str
    score: float


class HandoffOut(BaseModel):
    reason: str
    queue: str
    ticket_id: str | None


class ChatOut(BaseModel):
    session_id: str
    turn: int
    replies: list[dict[str, JsonValue]]
    intent: IntentOut | None
    flow: FlowOut | None
    slots: dict[str, JsonValue]
    sources: list[SourceOut]
    answer_source: str
    handoff: HandoffOut | None


class HistoryOut(BaseModel):
    role: str
    text: str
    time: float


class FrameOut(BaseModel):
    flow: str
    step: str
    frame_id: str


class SessionOut(BaseModel):
    session_id: str
    user_id: str | None
    lang: str
    turn: int
    user_intent: IntentOut | None
    slots: dict[str, JsonValue]
    flow_stack: list[FrameOut]
    history: list[HistoryOut]
    handoff: HandoffOut | None


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


def turn_to_wire(r: TurnResult) -> dict[str, JsonValue]:
    """The turn as DESIGN.md §3 shapes it (plain dicts: the WebSocket path skips pydantic)."""
    return {
        "session_id": r.session_id,
        "turn": r.turn,
        "replies": list(r.replies),
        "intent": (
            {"name": r.intent.name, "confidence": r.intent.confidence, "stage": r.intent.stage}
            if r.intent
            else None
        ),
        "flow": (
            {"name": r.flow.name, "step": r.flow.step, "expecting": r.flow.expecting}
            if r.flow
            else None
        ),
        "slots": r.slots,
        "sources": [{"id": s.id, "title": s.title, "score": s.score} for s in r.sources],
        "answer_source": r.answer_source,
        "handoff": (
            {"reason": r.handoff.reason, "queue": r.handoff.queue, "ticket_id": r.handoff.ticket_id}
            if r.handoff
            else None
        ),
    }


def state_to_wire(s: DialogueState) -> dict[str, JsonValue]:
    return {
        "session_id": s.session_id,
        "user_id": s.user_id,
        "lang": s.lang,
        "turn": s.turn,
        "user_intent": (
            {"name": s.intent.name, "confidence": s.intent.confidence, "stage": s.intent.stage}
            if s.intent
            else None
        ),
        "slots": dict(s.slots),
        "flow_stack": [
            {"flow": f.flow, "step": f.step, "frame_id": f.frame_id} for f in s.flow_stack
        ],
        "history": [{"role": h.role, "text": h.text, "time": h.ts} for h in s.history],
        "handoff": (
            {"reason": s.handoff.reason, "queue": s.handoff.queue, "ticket_id": s.handoff.ticket_id}
            if s.handoff
            else None
        ),
    }
