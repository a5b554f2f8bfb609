"""The answer decision: answer the best entry, ask which of two close FAQ entries is meant,
or say the knowledge base has no answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kefu.knowledge.model import Candidate
from kefu.knowledge.settings import AnswerPolicy

Outcome = Literal["answer", "clarify", "not_found"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    outcome: Outcome
    chosen: tuple[Candidate, ...] = ()


def decide(candidates: Sequence[Candidate], policy: AnswerPolicy, *, lang: str = "") -> Decision:
    """FAQ first: answer the best FAQ entry when it clears `faq_threshold` (offering the
    entries within `clarify_margin` of it as a choice instead); else the best document
    passage when it clears `doc_threshold`; else offer the best FAQ entries above
    `suggest_threshold` ("did you mean ..."); else say the KB has no answer. FAQ and document
    scores have their own scales (question-to-question vs question-to-passage), so each kind
    has its own threshold."""
    shift = policy.lang_offset.get(lang, 0.0)
    faqs = [c for c in candidates if c.kind == "faq"]
    docs = [c for c in candidates if c.kind == "doc"]
    if faqs and faqs[0].fused >= policy.faq_threshold + shift:
        top = faqs[0]
        floor = policy.clarify_floor + shift
        close = [
            c
            for c in faqs[1 : policy.max_options]
            if c.fused >= floor and top.fused - c.fused < policy.clarify_margin
        ]
        if close:
            return Decision(outcome="clarify", chosen=(top, *close))
        return Decision(outcome="answer", chosen=(top,))
    if docs and docs[0].fused >= policy.doc_threshold + shift:
        return Decision(outcome="answer", chosen=(docs[0],))
    suggest = policy.suggest_threshold + shift
    near = [c for c in faqs[: policy.max_options] if c.fused >= suggest]
    if near:
        return Decision(outcome="clarify", chosen=tuple(near))
    return Decision(outcome="not_found")
