"""Stage 1 of NLU: rules, then (when configured) the embedding classifier."""

from __future__ import annotations

from typing import Protocol

from kefu.nlu.base import OUT_OF_SCOPE, EntityExtractor, NluResult
from kefu.nlu.normalize import normalize
from kefu.nlu.rules import RuleSet


class IntentClassifier(Protocol):
    """Stage 1b: returns (intent, confidence) candidates, best first."""

    def classify(self, text: str, *, lang: str) -> list[tuple[str, float]]: ...


class StageOneNlu:
    def __init__(
        self,
        *,
        rules: RuleSet,
        extractor: EntityExtractor,
        classifier: IntentClassifier | None = None,
        classifier_threshold: float = 0.5,
    ) -> None:
        self._rules = rules
        self._extractor = extractor
        self._classifier = classifier
        self._threshold = classifier_threshold

    def parse(self, text: str, *, lang: str) -> NluResult:
        norm = normalize(text)
        entities = tuple(self._extractor.extract(text))
        acts = self._rules.match_acts(norm, lang) if norm else frozenset()
        if not norm:
            return NluResult(intent=OUT_OF_SCOPE, confidence=0.0, stage="rule", entities=entities)
        hit = self._rules.match_intent(norm, lang)
        if hit is not None:
            return NluResult(
                intent=hit.intent, confidence=hit.score, stage="rule", entities=entities, acts=acts
            )
        if self._classifier is not None:
            cands = self._classifier.classify(norm, lang=lang)
            if cands and cands[0][1] >= self._threshold:
                name, score = cands[0]
                return NluResult(
                    intent=name,
                    confidence=score,
                    stage="classifier",
                    entities=entities,
                    acts=acts,
                    candidates=tuple(cands[:3]),
                )
            return NluResult(
                intent=OUT_OF_SCOPE,
                confidence=1.0 - (cands[0][1] if cands else 0.0),
                stage="classifier",
                entities=entities,
                acts=acts,
                candidates=tuple(cands[:3]),
            )
        return NluResult(intent=OUT_OF_SCOPE, confidence=0.0, stage="rule", entities=entities, acts=acts)
