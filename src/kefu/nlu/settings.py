"""Settings of the NLU layer (the `nlu` section of kefu's Settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kefu.nlu.entities import DEFAULT_ORDER_PATTERNS


class NluSettings(BaseModel):
    # Regexes for the shop's order ids (kefu's KF… and tau2-bench's #W… by default).
    order_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDER_PATTERNS))
    # Intents below this confidence do not start flows.
    intent_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
