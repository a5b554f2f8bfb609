"""Choosing among options by button or by words ("退那个蓝色的水杯", "the second one", "都要").

A collect step with `options_from` offers one option per entry of a list slot (orders,
order lines, payment methods ...). The customer clicks (the payload carries the value) or
writes; `match_choices` finds which options the words point at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.dialogue.flow_model import Step, render
from kefu.domain.replies import Option
from kefu.domain.types import JsonValue
from kefu.nlu.entities.attributes import extract_attributes
from kefu.nlu.normalize import fold_width, normalize

_ALL = re.compile(r"(都|全部|所有|全都|两个都|both|all of them|all|everything)")
_ORDINALS_ZH = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}
_ORDINAL_ZH = re.compile(r"第\s*([一二两三四五六七八]|\d+)\s*(个|件|项|笔|单|张)?")
_ORDINAL_EN = re.compile(
    r"\b(first|second|third|fourth|fifth|last|1st|2nd|3rd|[45]th)\b(?: one)?", re.IGNORECASE
)
_EN_ORD = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
}
_TOKEN = re.compile(r"[a-z0-9#]+|[\u4e00-\u9fff]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    option_id: str
    label: str
    value: JsonValue
    entry: dict[str, JsonValue]


def build_choices(step: Step, slots: dict[str, JsonValue], lang: str) -> list[Choice]:
    """One choice per entry of the step's `options_from` list slot."""
    entries = slots.get(step.options_from or "")
    if not isinstance(entries, list):
        return []
    field = step.option_value or step.collect or ""
    label_tpl = step.option_label.get(lang) if step.option_label else "{" + field + "}"
    out: list[Choice] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get(field) is None:
            continue
        out.append(
            Choice(
                option_id=f"{step.id}-{i}",
                label=render(label_tpl, entry),
                value=entry[field],
                entry=entry,
            )
        )
    return out


def as_options(step: Step, choices: list[Choice]) -> tuple[Option, ...]:
    slot = step.collect or ""
    return tuple(Option(id=c.option_id, label=c.label, payload={slot: c.value}) for c in choices)


def match_choices(text: str, choices: list[Choice], *, multi: bool) -> list[Choice]:
    """The options the customer's words point at (empty when nothing or unclear)."""
    if not choices:
        return []
    norm = normalize(text)
    by_value = [c for c in choices if str(c.value).lower() in norm]
    if by_value:
        return by_value if multi else by_value[:1] if len(by_value) == 1 else []
    if multi and _ALL.search(norm):
        return list(choices)
    picked = _by_ordinal(norm, choices)
    if picked is not None:
        return [picked]
    return _by_words(norm, choices, multi=multi, named=_attributes(text))


def _by_ordinal(norm: str, choices: list[Choice]) -> Choice | None:
    n: int | None = None
    m = _ORDINAL_ZH.search(norm)
    if m:
        raw = m.group(1)
        n = int(raw) if raw.isdigit() else _ORDINALS_ZH.get(raw)
    else:
        e = _ORDINAL_EN.search(norm)
        if e:
            word = e.group(1).lower()
            n = len(choices) if word == "last" else _EN_ORD.get(word)
    if n is None and norm.strip().isdigit():
        n = int(norm.strip())
    if n is not None and 1 <= n <= len(choices):
        return choices[n - 1]
    return None


def _by_words(
    norm: str, choices: list[Choice], *, multi: bool, named: list[set[str]]
) -> list[Choice]:
    """Score each option by the label features found in the text; keep the clear winners.
    A colour or size the customer named must be the option's: "navy XL" never picks navy M."""
    said = _features(norm).union(*named)
    scores: list[tuple[int, Choice]] = []
    for c in choices:
        feats = _features(normalize(c.label))
        for v in _entry_strings(c.entry):
            feats |= _features(normalize(v))
        feats |= _option_sizes(c.entry)
        if all(feats & attr for attr in named):
            scores.append((len(feats & said), c))
    best = max((s for s, _ in scores), default=0)
    if best == 0:
        return []
    winners = [c for s, c in scores if s == best]
    if multi:
        return winners
    return winners if len(winners) == 1 else []


def _features(text: str) -> set[str]:
    """English words and Chinese character bigrams (single characters for 1-char runs)."""
    out: set[str] = set()
    for tok in _TOKEN.findall(text):
        if tok[0] >= "\u4e00":
            out |= {tok[i : i + 2] for i in range(len(tok) - 1)} if len(tok) > 1 else {tok}
        elif len(tok) >= 2:
            out.add(tok)
    return out


def _attributes(text: str) -> list[set[str]]:
    """Each colour and size the customer named, as the features an option naming it has: a
    colour's Chinese name ("the black one" → 黑色) and `size:M` ("size M", "M码"), so words
    in either language choose among the options of a Chinese catalog."""
    out: list[set[str]] = []
    for e in extract_attributes(fold_width(text)):
        zh = e.extra.get("zh")
        if e.type == "color" and isinstance(zh, str):
            out.append(_features(zh))
        elif e.type == "size":
            out.append({f"size:{e.value.lower()}"})
    return out


def _option_sizes(entry: dict[str, JsonValue]) -> set[str]:
    """`size:X` for each option value of an entry (order lines and variants carry
    `options`), matched only by a size the customer named."""
    options = entry.get("options")
    if not isinstance(options, dict):
        return set()
    return {f"size:{v.lower()}" for v in options.values() if isinstance(v, str)}


def _entry_strings(entry: dict[str, JsonValue]) -> list[str]:
    words: list[str] = []
    for v in entry.values():
        if isinstance(v, str):
            words.append(v)
        elif isinstance(v, dict):
            words += [str(x) for x in v.values() if isinstance(x, str | int)]
    return words
