"""Prompt templates, kept as files under `kefu/llm/prompts/` (one per purpose and language).

Each purpose has a static system part and a per-turn part. The system part depends only on
the deployment (its flows and intents), never on the turn, so every request of a language
starts with the same tokens and vLLM's prefix cache serves them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template
from typing import Literal

Kind = Literal["command", "command_turn", "answer", "answer_turn"]


@cache
def template(kind: Kind, lang: str) -> Template:
    lg = lang if lang in ("zh", "en") else "en"
    raw = resources.files("kefu.llm").joinpath(f"prompts/{kind}.{lg}.txt").read_text("utf-8")
    return Template(raw)


def render(kind: Kind, lang: str, **values: str) -> str:
    """The template filled in; a missing value is an error (a prompt never has holes)."""
    return template(kind, lang).substitute(**values).strip()
