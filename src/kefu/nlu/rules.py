"""Stage 1a: regex and keyword rules per intent, from YAML, with priorities and negation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

NEGATION_CUES = re.compile(
    r"(不想|不要|不用|不打算|没想|别|不|没|不是|并不|不再|没有)(要|想|去|再)?$"
    r"|(don'?t|do not|not|no longer|never|won'?t|didn'?t)\s+(want to\s+|need to\s+|going to\s+)?$"
)
# "有没有", "能不能", "是不是", "可不可以" ask a question; they negate nothing.
A_NOT_A = re.compile(r"(\w)[不没]\1\w?$")
NEGATION_WINDOW = 24
FULL_SCORE = 0.97
KEYWORD_SCORE = 0.9


@dataclass(frozen=True, slots=True)
class IntentRule:
    intent: str
    priority: int
    full: bool
    negatable: bool
    patterns: dict[str, tuple[re.Pattern[str], ...]]
    # All languages' patterns as one alternation: customers mix scripts ("hi，在吗"), and one
    # regex per rule is several times faster than one per pattern.
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class RuleHit:
    intent: str
    score: float
    priority: int
    start: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleMatch:
    """All the rules say about one message."""

    best: RuleHit | None = None
    # Every intent that matched (best first), for compound-message detection.
    hits: tuple[RuleHit, ...] = ()
    # Intents whose keywords appear only negated ("不想退货了"): not that intent.
    negated: frozenset[str] = field(default_factory=frozenset)


class RuleSet:
    """Compiled intent rules and dialogue-act rules."""

    def __init__(self, intents: Iterable[IntentRule], acts: Iterable[IntentRule]) -> None:
        self.intents: tuple[IntentRule, ...] = tuple(sorted(intents, key=lambda r: -r.priority))
        self.acts: tuple[IntentRule, ...] = tuple(acts)

    @classmethod
    def from_yaml(cls, text: str) -> RuleSet:
        raw = yaml.safe_load(text) or {}
        if not isinstance(raw, dict):
            raise ValueError("rules file must be a mapping with 'intents' and 'acts'")
        return cls(_compile(raw.get("intents") or {}), _compile(raw.get("acts") or {}))

    @classmethod
    def from_path(cls, path: Path) -> RuleSet:
        return cls.from_yaml(path.read_text(encoding="utf-8"))

    @classmethod
    def default(cls) -> RuleSet:
        """The shipped rules (parsed and compiled once per process; a RuleSet is read-only)."""
        return _shipped_rules()

    @property
    def intent_names(self) -> frozenset[str]:
        return frozenset(r.intent for r in self.intents)

    def restricted_to(self, intents: Iterable[str]) -> RuleSet:
        """Only the intent rules for `intents` (a shop model with its own labels); acts stay."""
        keep = set(intents)
        return RuleSet([r for r in self.intents if r.intent in keep], self.acts)

    def match(self, norm_text: str, lang: str) -> RuleMatch:
        hits: dict[str, RuleHit] = {}
        negated: set[str] = set()
        for rule in self.intents:
            found, neg = _rule_matches(rule, norm_text, lang)
            if found is not None:
                score = FULL_SCORE if rule.full else KEYWORD_SCORE
                if rule.intent not in hits:
                    hits[rule.intent] = RuleHit(rule.intent, score, rule.priority, found)
            elif neg:
                negated.add(rule.intent)
        ordered = sorted(hits.values(), key=lambda h: (-h.priority, -h.score))
        return RuleMatch(
            best=ordered[0] if ordered else None,
            hits=tuple(ordered),
            negated=frozenset(negated - hits.keys()),
        )

    def match_intent(self, norm_text: str, lang: str) -> RuleHit | None:
        """The best intent rule hit on normalised text, or None."""
        return self.match(norm_text, lang).best

    def match_acts(self, norm_text: str, lang: str) -> frozenset[str]:
        return frozenset(
            r.intent for r in self.acts if _rule_matches(r, norm_text, lang)[0] is not None
        )


def _rule_matches(rule: IntentRule, text: str, lang: str) -> tuple[int | None, bool]:
    """(start of the first un-negated match or None, whether a negated match was seen).

    Patterns of every language apply (`lang` is kept for rule sets that want to differ)."""
    pat = rule.regex
    if pat is None:
        return None, False
    if rule.full:
        return (0, False) if pat.fullmatch(text) else (None, False)
    negated = False
    for m in pat.finditer(text):
        before = text[max(0, m.start() - NEGATION_WINDOW) : m.start()]
        if rule.negatable and NEGATION_CUES.search(before) and not A_NOT_A.search(before):
            negated = True
            continue
        return m.start(), False
    return None, negated


def _compile(section: dict[str, Any]) -> list[IntentRule]:
    rules: list[IntentRule] = []
    for key, spec in section.items():
        if not isinstance(spec, dict):
            raise ValueError(f"rule {key!r} must be a mapping")
        patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
        sources: list[str] = []
        for lang in ("zh", "en", "any"):
            items = [str(p) for p in spec.get(lang) or []]
            try:
                patterns[lang] = tuple(re.compile(p, re.IGNORECASE) for p in items)
            except re.error as exc:
                raise ValueError(f"rule {key!r} ({lang}): bad pattern: {exc}") from exc
            sources += items
        regex = (
            re.compile("|".join(f"(?:{p})" for p in sources), re.IGNORECASE) if sources else None
        )
        rules.append(
            IntentRule(
                intent=str(spec.get("intent", key)),
                priority=int(spec.get("priority", 10)),
                full=bool(spec.get("full", False)),
                negatable=bool(spec.get("negatable", True)),
                patterns=patterns,
                regex=regex,
            )
        )
    return rules


@lru_cache(maxsize=1)
def _shipped_rules() -> RuleSet:
    text = resources.files("kefu.nlu").joinpath("data/rules.yaml").read_text(encoding="utf-8")
    return RuleSet.from_yaml(text)
