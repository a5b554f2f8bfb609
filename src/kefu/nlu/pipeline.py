"""Stage 1 of NLU: normalise, extract entities, rules, then the embedding classifier; and the
stage-2 hook (`NluResult.needs_llm`, `reason`, `candidates`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kefu.nlu.base import (
    OUT_OF_SCOPE,
    Entity,
    EntityExtractor,
    IntentClassifier,
    NluResult,
    Stage2Reason,
)
from kefu.nlu.normalize import normalize
from kefu.nlu.rules import RuleMatch, RuleSet

log = logging.getLogger(__name__)

SOCIAL = frozenset({"greeting", "goodbye", "thanks"})
# Acts whose rules match a whole message ("好的", "不是", "算了"): such a message is the act.
WHOLE_MESSAGE_ACTS = frozenset({"affirm", "deny", "stop"})
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage2Policy:
    """When stage 1 hands a message to stage 2 (the LLM command generator)."""

    # Classifier results below this probability are flagged `low_confidence`.
    confident: float = 0.7
    # Messages longer than this many units (a Chinese character is one, a Latin word two)
    # are flagged `long`: several requests, or a story the LLM should read.
    long_message: int = 60
    candidates: int = 3


def message_length(norm_text: str) -> int:
    return len(_CJK.findall(norm_text)) + 2 * len(_WORD.findall(norm_text))


class StageOneNlu:
    """Rules first (fast, exact), then the classifier; never raises on odd text."""

    def __init__(
        self,
        *,
        rules: RuleSet,
        extractor: EntityExtractor,
        classifier: IntentClassifier | None = None,
        classifier_threshold: float | None = None,
        policy: Stage2Policy | None = None,
    ) -> None:
        self._rules = rules
        self._extractor = extractor
        self._classifier = classifier
        self._threshold = classifier_threshold
        self._policy = policy or Stage2Policy()

    @property
    def classifier(self) -> IntentClassifier | None:
        return self._classifier

    def parse(self, text: str, *, lang: str) -> NluResult:
        try:
            return self._parse_many([text], [lang])[0]
        except Exception:  # stage 1 must answer every message; a bug here is logged
            log.exception("nlu.parse_failed chars=%d", len(text))
            return NluResult(intent=OUT_OF_SCOPE, confidence=0.0, stage="rule")

    def parse_many(self, texts: Sequence[str], *, langs: Sequence[str]) -> list[NluResult]:
        """Many messages with one classifier batch (evaluation, benchmarks)."""
        if len(texts) != len(langs):
            raise ValueError("texts and langs differ in length")
        return self._parse_many(texts, langs)

    def _parse_many(self, texts: Sequence[str], langs: Sequence[str]) -> list[NluResult]:
        out: list[NluResult | None] = []
        pending: list[tuple[int, _Message]] = []
        for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
            msg = self._read(text, lang)
            if not msg.norm:
                out.append(NluResult(intent=OUT_OF_SCOPE, confidence=0.0, stage="rule",
                                     entities=msg.entities))  # fmt: skip
                continue
            hit = self._rule_result(msg)
            # A bare act ("好的") or slot value ("KF2026…", an e-mail) has no intent of its own.
            bare = bool(msg.acts & WHOLE_MESSAGE_ACTS) or msg.value_only
            if hit is not None or self._classifier is None or bare:
                out.append(hit or _unknown(msg))
                continue
            out.append(None)
            pending.append((i, msg))
        if pending and self._classifier is not None:
            try:
                ranked = self._classifier.classify_many([m.norm for _, m in pending])
            except Exception:  # a broken encoder or model must not lose the rules and entities
                log.exception("nlu.classifier_failed messages=%d", len(pending))
                ranked = [[] for _ in pending]
            for (i, msg), cands in zip(pending, ranked, strict=True):
                out[i] = self._classified(cands, msg)
        return [r for r in out if r is not None]

    def _read(self, text: str, lang: str) -> _Message:
        norm = normalize(text)
        entities = tuple(self._extractor.extract(text))
        if not norm:
            return _Message(norm=norm, entities=entities)
        return _Message(
            norm=norm,
            entities=entities,
            acts=self._rules.match_acts(norm, lang),
            rules=self._rules.match(norm, lang),
            value_only=_value_only(text, entities),
        )

    def _usable_hits(self, rm: RuleMatch) -> list[tuple[str, float]]:
        clf = self._classifier
        if clf is None:
            return [(h.intent, h.score) for h in rm.hits]
        if not clf.use_rules:
            return []
        labels = clf.labels
        return [(h.intent, h.score) for h in rm.hits if h.intent in labels or h.intent in RULE_ONLY]

    def _rule_result(self, msg: _Message) -> NluResult | None:
        hits = self._usable_hits(msg.rules)
        if not hits:
            return None
        intent, score = hits[0]
        topics = {name for name, _ in hits if name not in SOCIAL}
        reason: Stage2Reason = ""
        if len(topics) >= 2:
            reason = "compound"
        elif message_length(msg.norm) > self._policy.long_message:
            reason = "long"
        return NluResult(
            intent=intent,
            confidence=score,
            stage="rule",
            entities=msg.entities,
            acts=msg.acts,
            candidates=tuple(hits[: self._policy.candidates]),
            needs_llm=bool(reason),
            reason=reason,
        )

    def _classified(self, ranked: list[tuple[str, float]], msg: _Message) -> NluResult:
        ranked = [(n, p) for n, p in ranked if n not in msg.rules.negated]
        if not ranked:
            return _unknown(msg)
        threshold = self._threshold
        if threshold is None and self._classifier is not None:
            threshold = self._classifier.threshold
        cands = tuple((n, p) for n, p in ranked if n != OUT_OF_SCOPE)[: self._policy.candidates]
        name, p = ranked[0]
        if name == OUT_OF_SCOPE or p < (threshold or 0.0):
            settled = msg.settled
            reason: Stage2Reason = "out_of_scope" if name == OUT_OF_SCOPE else "low_confidence"
            return NluResult(
                intent=OUT_OF_SCOPE,
                confidence=p if name == OUT_OF_SCOPE else 1.0 - p,
                stage="classifier",
                entities=msg.entities,
                acts=msg.acts,
                candidates=cands,
                needs_llm=not settled,
                reason="" if settled else reason,
            )
        reason = ""
        if p < self._policy.confident:
            reason = "low_confidence"
        elif message_length(msg.norm) > self._policy.long_message:
            reason = "long"
        return NluResult(
            intent=name,
            confidence=p,
            stage="classifier",
            entities=msg.entities,
            acts=msg.acts,
            candidates=cands,
            needs_llm=bool(reason),
            reason=reason,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    """What stage 1 reads off one message before deciding."""

    norm: str
    entities: tuple[Entity, ...]
    acts: frozenset[str] = frozenset()
    rules: RuleMatch = field(default_factory=RuleMatch)
    value_only: bool = False  # nothing but slot values and filler words

    @property
    def settled(self) -> bool:
        """A bare "好的" or order number is a dialogue act or a slot value, not a question."""
        return bool(self.acts) or self.value_only


# Words that only introduce a value ("我的订单号是 …", "my email is …").
_FILLER = re.compile(
    r"我的|我|订单号码?|订单|单号|运单号|快递单号|号码|手机号?|电话|邮箱|地址|尺码|颜色|是|为|这个|那个|"
    r"就是|应该是|其实是|对|嗯|哦|好|亲|请|麻烦|一下|要"
    r"|(?<![a-z])(?:my|the|order|number|no|id|e-?mail|phone|mobile|tracking|is|its|it's|here|"
    r"please|size|colou?r)(?![a-z])"
)
_NOT_WORD = re.compile(r"[\W_]+")


def _value_only(text: str, entities: tuple[Entity, ...]) -> bool:
    """Whether the message is just entities ("KF2026…", "我的邮箱是 a@b.cn", "黑色的")."""
    if not entities:
        return False
    rest, last = [], 0
    for e in sorted(entities, key=lambda e: e.start):
        rest.append(text[last : e.start])
        last = max(last, e.end)
    rest.append(text[last:])
    leftover = _FILLER.sub("", normalize(" ".join(rest)))
    leftover = _NOT_WORD.sub("", leftover).replace("的", "")
    return len(leftover) <= 1


# Intents only rules recognise (too rare for the classifier, and they start flows): kept
# even when a shop's model replaces the default intents.
RULE_ONLY = frozenset({"change_payment"})


def _unknown(msg: _Message) -> NluResult:
    settled = msg.settled
    return NluResult(
        intent=OUT_OF_SCOPE,
        confidence=0.0,
        stage="rule",
        entities=msg.entities,
        acts=msg.acts,
        needs_llm=not settled,
        reason="" if settled else "out_of_scope",
    )
