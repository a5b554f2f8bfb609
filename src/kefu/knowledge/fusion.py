"""Passage scores into one ranked list of entries (weights tuned on data, see FusionWeights)."""

from __future__ import annotations

from collections import defaultdict

from kefu.knowledge.model import Candidate, PassageScore, Role, SearchResult
from kefu.knowledge.settings import FusionWeights

FAQ_ROLES: tuple[Role, ...] = ("question", "centroid", "answer")
DOC_ROLES: tuple[Role, ...] = ("chunk", "title")


def _role_weight(weights: FusionWeights, role: Role) -> float:
    return float(getattr(weights, role))


def _dense(role_best: dict[str, float], roles: tuple[Role, ...], weights: FusionWeights) -> float:
    total = 0.0
    mass = 0.0
    for role in roles:
        if role in role_best:
            w = _role_weight(weights, role)
            total += w * role_best[role]
            mass += w
    return total / mass if mass > 0 else max(role_best.values(), default=0.0)


def _candidate(scores: list[PassageScore], sparse_top: float, weights: FusionWeights) -> Candidate:
    first = scores[0].passage
    faq = first.kind == "faq"
    role_best: dict[str, float] = {}
    for s in scores:
        role_best[s.passage.role] = max(role_best.get(s.passage.role, -1.0), s.dense)
    dense = _dense(role_best, FAQ_ROLES if faq else DOC_ROLES, weights)
    norm = 1.0 / sparse_top if sparse_top > 0 else 0.0
    sparse = max(s.sparse for s in scores) * norm
    w_sparse = weights.sparse_faq if faq else weights.sparse_doc
    if faq:
        best = next((s.passage for s in scores if s.passage.role == "answer"), first)
    else:
        chunks = [s for s in scores if s.passage.role == "chunk"] or scores
        best = max(chunks, key=lambda s: s.dense + w_sparse * s.sparse * norm).passage
    return Candidate(
        entry_id=first.entry_id,
        kind=first.kind,
        title=first.title,
        best=best,
        dense=dense,
        sparse=sparse,
        fused=dense + w_sparse * sparse,
        roles=role_best,
    )


def fuse(result: SearchResult, weights: FusionWeights) -> list[Candidate]:
    """One candidate per entry, best first."""
    by_entry: dict[str, list[PassageScore]] = defaultdict(list)
    for s in result.passages:
        by_entry[s.passage.entry_id].append(s)
    out = [_candidate(scores, result.sparse_top, weights) for scores in by_entry.values()]
    out.sort(key=lambda c: (-c.fused, c.entry_id))
    return out
