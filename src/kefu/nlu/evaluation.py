"""Scores of an intent recogniser against labelled examples (for `kefu nlu eval` and bench)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kefu.nlu.base import OUT_OF_SCOPE

Gold = str | frozenset[str]  # one label, or a set of labels any of which is right


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalReport:
    examples: int
    accuracy: float
    macro_f1: float  # over the intents that occur in the gold labels
    per_intent: tuple[IntentScore, ...]
    confused: tuple[tuple[str, str, int], ...]  # (gold, predicted, count), most frequent first
    oos_recall: float | None  # share of out_of_scope examples predicted out_of_scope
    oos_support: int
    in_scope_accuracy: float | None


def _resolve(gold: Gold, pred: str) -> str:
    """The gold label to score against: the prediction when it is one of the accepted."""
    if isinstance(gold, str):
        return gold
    return pred if pred in gold else sorted(gold)[0]


def evaluate(gold: Sequence[Gold], pred: Sequence[str], *, top_confused: int = 10) -> EvalReport:
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    g = [_resolve(a, p) for a, p in zip(gold, pred, strict=True)]
    n = len(g)
    correct = sum(a == p for a, p in zip(g, pred, strict=True))
    tp: Counter[str] = Counter()
    gold_n: Counter[str] = Counter(g)
    pred_n: Counter[str] = Counter(pred)
    pairs: Counter[tuple[str, str]] = Counter()
    for a, p in zip(g, pred, strict=True):
        if a == p:
            tp[a] += 1
        else:
            pairs[(a, p)] += 1
    scores = []
    for intent in sorted(gold_n):
        prec = tp[intent] / pred_n[intent] if pred_n[intent] else 0.0
        rec = tp[intent] / gold_n[intent]
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        scores.append(
            IntentScore(intent=intent, precision=prec, recall=rec, f1=f1, support=gold_n[intent])
        )
    oos_n = gold_n[OUT_OF_SCOPE]
    in_n = n - oos_n
    in_ok = sum(a == p for a, p in zip(g, pred, strict=True) if a != OUT_OF_SCOPE)
    return EvalReport(
        examples=n,
        accuracy=correct / n if n else 0.0,
        macro_f1=sum(s.f1 for s in scores) / len(scores) if scores else 0.0,
        per_intent=tuple(scores),
        confused=tuple((a, p, c) for (a, p), c in pairs.most_common(top_confused)),
        oos_recall=tp[OUT_OF_SCOPE] / oos_n if oos_n else None,
        oos_support=oos_n,
        in_scope_accuracy=in_ok / in_n if in_n else None,
    )
