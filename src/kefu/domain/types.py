"""Ids and small closed sets shared by all layers."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

from pydantic import JsonValue as PydanticJsonValue

SessionId = NewType("SessionId", str)
TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)

DEFAULT_TENANT = TenantId("default")

# JSON values as stored in slots and event payloads (pydantic's alias, so models accept it).
JsonValue = PydanticJsonValue


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


class AnswerSource(StrEnum):
    FAQ = "faq"
    KB = "kb"
    FLOW = "flow"
    LLM = "llm"
    FALLBACK = "fallback"
    AGENT = "agent"
    GUARD = "guard"


class NluStage(StrEnum):
    RULE = "rule"
    CLASSIFIER = "classifier"
    LLM = "llm"
    BUTTON = "button"
