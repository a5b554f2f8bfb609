"""Protocols and results of the NLU layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kefu.domain.types import JsonValue

OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    """A value found in the text, with its span so masking and slot filling can use it."""

    type: str
    value: str
    start: int
    end: int
    extra: dict[str, JsonValue] = field(default_factory=dict)

    def to_data(self) -> dict[str, JsonValue]:
        d: dict[str, JsonValue] = {
            "type": self.type,
            "value": self.value,
            "start": self.start,
            "end": self.end,
        }
        if self.extra:
            d["extra"] = self.extra
        return d


@dataclass(frozen=True, slots=True, kw_only=True)
class NluResult:
    intent: str
    confidence: float
    stage: str
    entities: tuple[Entity, ...] = ()
    # Dialogue acts that steer a running flow: affirm, deny, stop, correct.
    acts: frozenset[str] = frozenset()
    # Runner-up intents with their scores, best first (for clarifying questions).
    candidates: tuple[tuple[str, float], ...] = ()

    def entity(self, type_: str) -> Entity | None:
        for e in self.entities:
            if e.type == type_:
                return e
        return None


class EntityExtractor(Protocol):
    def extract(self, text: str) -> list[Entity]: ...


class IntentRecognizer(Protocol):
    """Stage 1 of NLU: text in, intent + entities + acts out. Never raises on odd text."""

    def parse(self, text: str, *, lang: str) -> NluResult: ...
