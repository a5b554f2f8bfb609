"""The answer decision and the answer cache, on hand-made scores."""

from __future__ import annotations

import numpy as np

from kefu.domain.replies import TextReply
from kefu.knowledge.base import KnowledgeAnswer, Source
from kefu.knowledge.cache import AnswerCache
from kefu.knowledge.fusion import fuse
from kefu.knowledge.model import Candidate, Passage, PassageScore, SearchResult
from kefu.knowledge.policy import decide
from kefu.knowledge.settings import AnswerPolicy, CacheSettings, FusionWeights

POLICY = AnswerPolicy(
    faq_threshold=0.75,
    doc_threshold=0.4,
    suggest_threshold=0.65,
    clarify_floor=0.65,
    clarify_margin=0.02,
    lang_offset={"en": -0.05},
)


def cand(entry_id: str, fused: float, kind: str = "faq") -> Candidate:
    p = Passage(
        key=f"{entry_id}#a",
        entry_id=entry_id,
        kind=kind,
        role="answer",  # type: ignore[arg-type]
        lang="zh",
        title=entry_id,
        text="t",
    )
    return Candidate(
        entry_id=entry_id,
        kind=kind,
        title=entry_id,
        best=p,  # type: ignore[arg-type]
        dense=fused,
        sparse=0.0,
        fused=fused,
    )


def test_a_confident_faq_entry_is_answered() -> None:
    d = decide([cand("a", 0.9), cand("b", 0.7)], POLICY)
    assert (d.outcome, [c.entry_id for c in d.chosen]) == ("answer", ["a"])


def test_two_close_entries_are_offered_as_a_choice() -> None:
    d = decide([cand("a", 0.80), cand("b", 0.79), cand("c", 0.5)], POLICY)
    assert (d.outcome, [c.entry_id for c in d.chosen]) == ("clarify", ["a", "b"])


def test_an_unsure_match_is_a_suggestion_and_a_poor_one_is_not_found() -> None:
    d = decide([cand("a", 0.70), cand("b", 0.66), cand("c", 0.6)], POLICY)
    assert (d.outcome, [c.entry_id for c in d.chosen]) == ("clarify", ["a", "b"])
    assert decide([cand("a", 0.6)], POLICY).outcome == "not_found"
    assert decide([], POLICY).outcome == "not_found"


def test_thresholds_shift_by_language() -> None:
    assert decide([cand("a", 0.72)], POLICY, lang="en").outcome == "answer"
    assert decide([cand("a", 0.72)], POLICY, lang="zh").outcome == "clarify"


def test_documents_have_their_own_threshold_and_faq_comes_first() -> None:
    d = decide([cand("d", 0.5, "doc"), cand("a", 0.7)], POLICY)
    assert (d.outcome, d.chosen[0].entry_id) == ("answer", "d")
    d = decide([cand("d", 0.95, "doc"), cand("a", 0.8)], POLICY)
    assert d.chosen[0].entry_id == "a"
    assert decide([cand("d", 0.3, "doc")], POLICY).outcome == "not_found"


def test_fusion_weights_roles_and_normalises_bm25() -> None:
    def ps(key: str, role: str, dense: float, sparse: float) -> PassageScore:
        entry = key.split("#")[0]
        p = Passage(
            key=key,
            entry_id=entry,
            kind="faq",
            role=role,
            lang="zh",  # type: ignore[arg-type]
            title=entry,
            text=key,
        )
        return PassageScore(passage=p, dense=dense, sparse=sparse)

    result = SearchResult(
        passages=(
            ps("a#q0", "question", 0.9, 0),
            ps("a#q1", "question", 0.7, 0),
            ps("a#c", "centroid", 0.8, 0),
            ps("a#a", "answer", 0.2, 4.0),
            ps("b#q0", "question", 0.85, 0),
            ps("b#c", "centroid", 0.85, 0),
            ps("b#a", "answer", 0.2, 8.0),
        ),
        sparse_top=8.0,
    )
    w = FusionWeights(question=1, centroid=1, answer=0, sparse_faq=0.2)
    a, b = sorted(fuse(result, w), key=lambda c: c.entry_id)
    assert abs(a.dense - 0.85) < 1e-6 and a.sparse == 0.5
    assert abs(a.fused - (0.85 + 0.1)) < 1e-6
    assert abs(b.fused - (0.85 + 0.2)) < 1e-6
    assert [c.entry_id for c in fuse(result, w)] == ["b", "a"]
    assert a.best.role == "answer"  # an FAQ answers with its answer passage


def answer(text: str) -> KnowledgeAnswer:
    return KnowledgeAnswer(
        replies=(TextReply(text=text),),
        sources=(Source(id=text, title=text, score=1),),
        answer_source="faq",
    )


def vec(*xs: float) -> np.ndarray:
    v = np.asarray(xs + (0.0,) * (4 - len(xs)), dtype=np.float32)
    return v / np.linalg.norm(v)


def test_cache_hits_need_the_same_tenant_language_and_kb_version() -> None:
    now = [0.0]
    cache = AnswerCache(CacheSettings(ttl_s=60, semantic_threshold=0.95), clock=lambda: now[0])
    cache.put("t1", "zh", 3, "退货运费谁出", answer("A"), vector=vec(1, 0))
    assert cache.get_exact("t1", "zh", 3, "退货运费谁出") == answer("A")
    assert cache.get_exact("t2", "zh", 3, "退货运费谁出") is None
    assert cache.get_exact("t1", "en", 3, "退货运费谁出") is None
    assert cache.get_semantic("t1", "zh", 3, vec(1, 0.1)) == answer("A")
    assert cache.get_semantic("t1", "zh", 3, vec(1, 1)) is None
    assert cache.get_semantic("t2", "zh", 3, vec(1, 0)) is None
    assert cache.get_exact("t1", "zh", 4, "退货运费谁出") is None  # the KB changed
    assert cache.get_semantic("t1", "zh", 3, vec(1, 0)) is None  # ... and that emptied it


def test_cache_entries_expire_and_the_cache_stays_bounded() -> None:
    now = [0.0]
    cache = AnswerCache(CacheSettings(ttl_s=10, max_entries=2), clock=lambda: now[0])
    for q in ("a", "b", "c"):
        cache.put("t", "zh", 1, q, answer(q))
    assert cache.get_exact("t", "zh", 1, "a") is None  # evicted, least recently used
    assert cache.get_exact("t", "zh", 1, "c") == answer("c")
    now[0] = 11.0
    assert cache.get_exact("t", "zh", 1, "c") is None
    cache.put("t", "zh", 1, "d", answer("d"))
    cache.invalidate("t")
    assert cache.get_exact("t", "zh", 1, "d") is None
