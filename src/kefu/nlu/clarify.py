"""The clarifying question asked when stage 1 is unsure and no LLM is configured.

"您是想退货还是换货？" with one button per candidate intent; a button's payload is
`{"intent": name}`, which the dialogue manager turns into that intent with confidence 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import yaml

from kefu.domain.replies import Option, OptionsReply
from kefu.nlu.base import OUT_OF_SCOPE, NluResult

_QUESTION = {
    2: {"zh": "您是想{0}还是{1}？", "en": "Would you like to {0} or {1}?"},
    3: {"zh": "您是想{0}、{1}还是{2}？", "en": "Would you like to {0}, {1} or {2}?"},
}
_NONE = {"zh": "都不是", "en": "Something else"}


@dataclass(frozen=True, slots=True)
class IntentLabels:
    """Customer-facing names of intents per language; unknown intents fall back to the name."""

    names: Mapping[str, Mapping[str, str]]

    @classmethod
    def default(cls) -> IntentLabels:
        raw = resources.files("kefu.nlu").joinpath("data/intents.yaml").read_text("utf-8")
        data = yaml.safe_load(raw) or {}
        return cls({str(k): {str(lg): str(t) for lg, t in v.items()} for k, v in data.items()})

    def label(self, intent: str, lang: str) -> str:
        by_lang = self.names.get(intent, {})
        return by_lang.get(lang) or by_lang.get("en") or intent.replace("_", " ")


def clarify_reply(
    result: NluResult,
    *,
    lang: str,
    labels: IntentLabels,
    min_score: float = 0.1,
    max_options: int = 2,
    none_option: bool = True,
) -> OptionsReply | None:
    """Ask between the top candidates, or None when there is nothing to ask about.

    It asks when stage 1 flagged the message (`needs_llm`) for low confidence, a compound
    message or out-of-scope, and at least two in-scope candidates score `min_score` or more.
    """
    if not result.needs_llm or result.reason not in ("low_confidence", "compound", "out_of_scope"):
        return None
    picks = [
        name for name, score in result.candidates if name != OUT_OF_SCOPE and score >= min_score
    ]
    picks = list(dict.fromkeys(picks))[: max(2, min(max_options, 3))]
    if len(picks) < 2:
        return None
    lg = lang if lang in ("zh", "en") else "en"
    names = [labels.label(p, lg) for p in picks]
    options = [
        Option(id=f"clarify-{p}", label=n, payload={"intent": p})
        for p, n in zip(picks, names, strict=True)
    ]
    if none_option:
        options.append(Option(id="clarify-none", label=_NONE[lg], payload={"intent": OUT_OF_SCOPE}))
    return OptionsReply(text=_QUESTION[len(picks)][lg].format(*names), options=tuple(options))
