"""Protocols and results of the NLU layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from kefu.domain.types import JsonValue

OUT_OF_SCOPE = "out_of_scope"

# Why stage 1 hands a message to stage 2 (the LLM command generator), if it does.
Stage2Reason = Literal["", "low_confidence", "out_of_scope", "long", "compound"]

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    """A value found in the text, with its span so masking and slot filling can use it.

    `start`/`end` index the text as the customer sent it (`text[start:end]`).
    """

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
    # The best intents with their scores, best first (for clarifying questions and stage 2).
    candidates: tuple[tuple[str, float], ...] = ()
    # Stage-2 hook: stage 1 is not sure (or the message is long / compound); an LLM command
    # generator should decide, and without one a clarifying question can be asked.
    needs_llm: bool = False
    reason: Stage2Reason = ""

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


class Embedder(Protocol):
    """Sentence embeddings: one L2-normalised row per text. An embedding server can replace
    the embedded default as long as the vectors of training and serving come from the same
    model (the model file records `name`)."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class IntentClassifier(Protocol):
    """Stage 1b: (intent, probability) candidates, best first, over normalised text."""

    @property
    def labels(self) -> frozenset[str]: ...

    @property
    def threshold(self) -> float:
        """Below this probability the top intent is not trusted: out_of_scope."""
        ...

    @property
    def use_rules(self) -> bool:
        """Whether the shipped rules apply (to the intents this model knows)."""
        ...

    def classify(self, text: str, *, lang: str) -> list[tuple[str, float]]: ...

    def classify_many(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]: ...
