"""Settings of the guards (`Settings.safety`, env `KEFU_SAFETY__...`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SafetySettings(BaseModel):
    # Injection / jailbreak / prompt-leak / other customers' data / threats, before NLU
    # acts on a message. Rules run on every message; the semantic check on messages the
    # rules of NLU stage 1 did not settle (those that may reach the LLM or the KB).
    input_guard: bool = True
    # Forbidden content, PII leaks and prompt leaks in replies the LLM wrote.
    output_guard: bool = True
    # The shop's competitors (promoting them is forbidden in replies).
    competitors: list[str] = Field(default_factory=list)
    # Phrases the shop's policy does allow in replies (e.g. "7天无理由退货").
    allowed_phrases: list[str] = Field(default_factory=list)
    # PII-looking values any reply may contain: the shop's hotline, its support e-mail.
    public_values: list[str] = Field(default_factory=list)
