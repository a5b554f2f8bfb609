"""Stage 1a: regex and keyword rules per intent, from YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

NEGATION_CUES = re.compile(
    r"(不想|不要|不用|不打算|没想|别|不|没)$|(don'?t|do not|not|no longer|never)\s+(want to\s+|need to\s+)?$"
)
FULL_SCORE = 0.97
KEYWORD_SCORE = 0.9


@dataclass(frozen=True, slots=True)
class IntentRule:
    intent: str
    priority: int
    full: bool
    negatable: bool
    patterns: dict[str, tuple[re.Pattern[str], ...]]


@dataclass(frozen=True, slots=True)
class RuleHit:
    intent: str
    score: float
    priority: int


class RuleSet:
    """Compiled intent rules and dialogue-act rules."""

    def __init__(self, intents: list[IntentRule], acts: list[IntentRule]) -> None:
        self.intents = sorted(intents, key=lambda r: -r.priority)
        self.acts = acts

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
        text = resources.files("kefu.nlu").joinpath("data/rules.yaml").read_text(encoding="utf-8")
        return cls.from_yaml(text)

    def match_intent(self, norm_text: str, lang: str) -> RuleHit | None:
        """The best intent rule hit on normalised text, or None."""
        best: RuleHit | None = None
        for rule in self.intents:
            if best is not None and rule.priority < best.priority:
                break
            if _rule_matches(rule, norm_text, lang):
                score = FULL_SCORE if rule.full else KEYWORD_SCORE
                if best is None or score > best.score:
                    best = RuleHit(rule.intent, score, rule.priority)
        return best

    def match_acts(self, norm_text: str, lang: str) -> frozenset[str]:
        return frozenset(r.intent for r in self.acts if _rule_matches(r, norm_text, lang))


def _rule_matches(rule: IntentRule, text: str, lang: str) -> bool:
    pats = rule.patterns.get(lang, ()) + (
        rule.patterns.get("any", ()) if lang != "any" else ()
    )
    for pat in pats:
        if rule.full:
            if pat.fullmatch(text):
                return True
            continue
        for m in pat.finditer(text):
            if not rule.negatable or not NEGATION_CUES.search(text[max(0, m.start() - 12) : m.start()]):
                return True
    return False


def _compile(section: dict[str, Any]) -> list[IntentRule]:
    rules: list[IntentRule] = []
    for key, spec in section.items():
        if not isinstance(spec, dict):
            raise ValueError(f"rule {key!r} must be a mapping")
        patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
        for lang in ("zh", "en", "any"):
            items = spec.get(lang) or []
            try:
                patterns[lang] = tuple(re.compile(p, re.IGNORECASE) for p in items)
            except re.error as exc:
                raise ValueError(f"rule {key!r} ({lang}): bad pattern: {exc}") from exc
        rules.append(
            IntentRule(
                intent=str(spec.get("intent", key)),
                priority=int(spec.get("priority", 10)),
                full=bool(spec.get("full", False)),
                negatable=bool(spec.get("negatable", True)),
                patterns=patterns,
            )
        )
    return rules
