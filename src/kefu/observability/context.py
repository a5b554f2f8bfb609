"""The turn being handled, for code far below the dialogue manager (audit records of model
calls and back-end writes name their tenant and session without passing them down)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnRef:
    tenant: str
    session_id: str
    user_id: str | None = None  # the verified customer, when there is one


current_turn: ContextVar[TurnRef | None] = ContextVar("kefu_current_turn", default=None)
