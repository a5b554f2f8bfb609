"""Settings of the NLU layer (the `nlu` section of kefu's Settings; env `KEFU_NLU__...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from kefu.nlu.entities import DEFAULT_ORDER_PATTERNS


class NluSettings(BaseModel):
    # Regexes for the shop's order ids (kefu's KF… and tau2-bench's #W… by default).
    order_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_ORDER_PATTERNS))
    # Intents below this confidence do not start flows.
    intent_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    # Stage 1b on/off. Off: rules only, and the sentence encoder is never loaded.
    classifier: bool = True
    # The shop's trained model (`kefu nlu train` writes it); default: <data_dir>/nlu/model.npz.
    # Without it the shipped default model (23 intents, zh + en) serves.
    model_path: Path | None = None
    # How often (seconds) a running server looks for a newly trained model file.
    reload_interval_s: float = Field(default=5.0, ge=0.0)
    # A rules YAML that replaces the shipped one (same format as kefu/nlu/data/rules.yaml).
    rules_path: Path | None = None
    # Sentence encoder: BLAS threads, and characters embedded per message (longer is cut).
    embed_threads: int = Field(default=1, ge=1, le=64)
    embed_max_chars: int = Field(default=256, ge=16, le=4000)
    # Stage-2 hook: classifier results below this are flagged for the LLM / a clarifying
    # question; messages longer than `long_message` units (Chinese characters; a Latin word
    # counts two) are flagged as long.
    stage2_confident: float = Field(default=0.7, ge=0.0, le=1.0)
    long_message: int = Field(default=60, ge=1)
    # The shop's time zone, for relative dates ("昨天", "上周五").
    timezone: str = "Asia/Shanghai"

    @field_validator("order_patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        import re

        if not v:
            raise ValueError("at least one order id pattern is needed")
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"bad order id pattern {p!r}: {exc}") from exc
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v
