"""Knowledge-base benchmarks: FAQ matching, tau2 banking_knowledge retrieval, speed at 100k.

    .venv/bin/python bench/kb.py faq            # tune fusion + thresholds on dev, report test
    .venv/bin/python bench/kb.py tau2           # recall@1/5/10 and MRR: dense, BM25, fused
    .venv/bin/python bench/kb.py speed          # p50/p99 per question over 100,000 chunks
    .venv/bin/python bench/kb.py all --json bench/results/kb.json

FAQ: kefu's default FAQ (src/kefu/knowledge/data/faq-{zh,en}.yaml) and the test sets in
bench/kb-data/faq-eval-{zh,en}.yaml (paraphrases not in the FAQ, out-of-scope questions;
the first paraphrase per entry, even out-of-scope positions and the *_dev_extra lists are
the dev split). Weights and thresholds are chosen on dev only; the test split is reported.

docs: six short shop documents (bench/kb-data/docs, 3 zh + 3 en) and questions they answer
(bench/kb-data/docs-eval.yaml) plus the FAQ set's out-of-scope questions: the document
fusion weights and threshold are tuned on dev (even positions), test reported.

tau2: ../shared/evaldata/tau2-bench/banking_knowledge (698 documents, 97 tasks). The query
is the task's reason for contacting support: the "Your situation" paragraph of the user
instructions when there is one, else the instructions without the role-play boilerplate.
Even-numbered tasks are dev (document fusion weights are tuned there), odd ones test.

Embeddings are cached in a SQLite KB under --cache (default bench/.kb-cache), so a second
run does not re-embed. Run heavy jobs with `nice` on shared machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import itertools
import json
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kefu.dialogue.sql_store import make_engine
from kefu.knowledge.embedding import ThreadedEmbedder
from kefu.knowledge.fusion import fuse
from kefu.knowledge.memory_retriever import InMemoryRetriever
from kefu.knowledge.model import (
    Candidate,
    ChangeSet,
    DocEntry,
    EntryChange,
    IndexedPassage,
    Passage,
    SearchQuery,
    SearchResult,
)
from kefu.knowledge.parsing import parse_file
from kefu.knowledge.policy import decide
from kefu.knowledge.service import KnowledgeBase, default_faq
from kefu.knowledge.settings import AnswerPolicy, FusionWeights, KnowledgeSettings
from kefu.knowledge.sql_store import SqlKbStore
from kefu.knowledge.text import tokenize
from kefu.nlu.embedder import shared_use_embedder

ROOT = Path(__file__).resolve().parent.parent
TAU2 = ROOT.parent / "shared" / "evaldata" / "tau2-bench" / "banking_knowledge"
EVAL = ROOT / "bench" / "kb-data"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {sys.platform}"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def open_kb(cache: Path, *, top_k: int = 20) -> KnowledgeBase:
    settings = KnowledgeSettings(seed_default_faq=False, top_k=top_k)
    kb = KnowledgeBase(
        store=SqlKbStore(make_engine(f"sqlite+aiosqlite:///{cache / 'kb.db'}")),
        retriever=InMemoryRetriever(),
        embedder=ThreadedEmbedder(shared_use_embedder(1, 256)),
        settings=settings,
    )
    await kb.start()
    return kb


async def search_all(
    kb: KnowledgeBase, tenant: str, queries: Sequence[tuple[str, str]], *, k: int
) -> list[SearchResult]:
    vecs = await kb.embedder.embed([q for q, _ in queries])
    out = []
    for (q, lang), v in zip(queries, vecs, strict=True):
        sq = SearchQuery(text=q, lang=lang, vector=v, tokens=tuple(tokenize(q)), k=k)
        out.append(await kb.retriever.search(tenant, sq))
    return out


# -- FAQ matching ------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    text: str
    lang: str
    gold: str | None  # None: out of scope
    dev: bool


def faq_items() -> list[Item]:
    items: list[Item] = []
    for lang in ("zh", "en"):
        data = yaml.safe_load((EVAL / f"faq-eval-{lang}.yaml").read_text("utf-8"))
        for gold, paraphrases in data["in_scope"].items():
            items += [Item(p, lang, gold, i == 0) for i, p in enumerate(paraphrases)]
        items += [Item(q, lang, None, i % 2 == 0) for i, q in enumerate(data["out_of_scope"])]
        for gold, paraphrases in data.get("in_scope_dev_extra", {}).items():
            items += [Item(p, lang, gold, True) for p in paraphrases]
        items += [Item(q, lang, None, True) for q in data.get("out_of_scope_dev_extra", [])]
    return items


def outcomes(cands: list[Candidate], item: Item, policy: AnswerPolicy) -> str:
    d = decide(cands, policy, lang=item.lang)
    if item.gold is None:
        return {"answer": "oos_answered", "clarify": "oos_clarified"}.get(d.outcome, "oos_ok")
    if d.outcome == "answer":
        return "correct" if d.chosen[0].entry_id == item.gold else "wrong"
    if d.outcome == "clarify":
        return "clarify_ok" if any(c.entry_id == item.gold for c in d.chosen) else "clarify_bad"
    return "missed"


def top1(ranked: list[list[Candidate]], items: list[Item]) -> float:
    pairs = [(r, it) for r, it in zip(ranked, items, strict=True) if it.gold is not None]
    return sum(bool(r) and r[0].entry_id == it.gold for r, it in pairs) / max(1, len(pairs))


def tune_weights(results: list[SearchResult], items: list[Item]) -> FusionWeights:
    best: tuple[float, float, FusionWeights] | None = None
    grid = itertools.product([0.0, 0.5, 1.0, 1.5], [0.0, 0.15, 0.3, 0.5], [0, 0.05, 0.1, 0.2])
    dev = [(r, it) for r, it in zip(results, items, strict=True) if it.dev and it.gold]
    for centroid, answer, sparse in grid:
        w = FusionWeights(centroid=centroid, answer=answer, sparse_faq=sparse)
        acc = top1([fuse(r, w) for r, _ in dev], [it for _, it in dev])
        # ties: prefer the simpler blend (less sparse, then less answer weight)
        key = (acc, -sparse - answer / 10)
        if best is None or key > best[:2]:
            best = (acc, key[1], w)
    assert best is not None
    return best[2]


def _policy_score(
    ranked: list[list[Candidate]], items: list[Item], policy: AnswerPolicy
) -> float | None:
    """Rates on the given items: answered right + 0.6 x right entry offered in a choice -
    wrong answers - 0.3 x choices without it - 0.3 x out-of-scope questions given a choice;
    None when more than 5 % of the out-of-scope questions get an answer."""
    n_in = sum(it.gold is not None for it in items)
    n_oos = len(items) - n_in
    c: dict[str, int] = {}
    for r, it in zip(ranked, items, strict=True):
        o = outcomes(r, it, policy)
        c[o] = c.get(o, 0) + 1
    if c.get("oos_answered", 0) > 0.05 * n_oos:
        return None
    return (
        c.get("correct", 0) / n_in
        + 0.6 * c.get("clarify_ok", 0) / n_in
        - c.get("wrong", 0) / n_in
        - 0.3 * c.get("clarify_bad", 0) / n_in
        - 0.3 * c.get("oos_clarified", 0) / n_oos
    )


def tune_policy(ranked: list[list[Candidate]], items: list[Item]) -> AnswerPolicy:
    """Thresholds on dev: Chinese thresholds, an English offset, the suggestion band and the
    clarify margin that maximise `_policy_score` in each language."""
    dev = {
        lang: [(r, it) for r, it in zip(ranked, items, strict=True) if it.dev and it.lang == lang]
        for lang in ("zh", "en")
    }
    best: tuple[float, AnswerPolicy] | None = None
    for band, margin in itertools.product([0.0, 0.03, 0.06, 0.1], [0.0, 0.01, 0.02, 0.03]):
        chosen: dict[str, tuple[float, float]] = {}
        for lang, pairs in dev.items():
            rs, its = [r for r, _ in pairs], [it for _, it in pairs]
            for th in np.arange(0.45, 0.85, 0.01):
                p = AnswerPolicy(
                    faq_threshold=round(float(th), 3),
                    suggest_threshold=round(float(th - band), 3),
                    clarify_floor=round(float(th - band), 3),
                    clarify_margin=margin,
                    lang_offset={},
                )
                score = _policy_score(rs, its, p)
                if score is not None and (lang not in chosen or score > chosen[lang][0]):
                    chosen[lang] = (score, float(th))
        if len(chosen) < 2:
            continue
        th_zh = round(chosen["zh"][1], 3)
        policy = AnswerPolicy(
            faq_threshold=th_zh,
            suggest_threshold=round(th_zh - band, 3),
            clarify_floor=round(th_zh - band, 3),
            clarify_margin=margin,
            lang_offset={"en": round(chosen["en"][1] - th_zh, 3)},
        )
        total = chosen["zh"][0] + chosen["en"][0]
        if best is None or total > best[0]:
            best = (total, policy)
    assert best is not None
    return best[1]


def faq_table(ranked: list[list[Candidate]], items: list[Item], policy: AnswerPolicy) -> list[str]:
    rows = [
        "| split | lang | in-scope | top-1 | answered right | clarified (right one offered) "
        '| wrong answer | "not in KB" | out-of-scope | OOS answered (wrong) | OOS clarified |',
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for split, lang in itertools.product(("dev", "test"), ("zh", "en", "all")):
        sel = [
            (r, it)
            for r, it in zip(ranked, items, strict=True)
            if (it.dev == (split == "dev")) and lang in (it.lang, "all")
        ]
        ins = [(r, it) for r, it in sel if it.gold]
        oos = [(r, it) for r, it in sel if not it.gold]
        c: dict[str, int] = {}
        for r, it in sel:
            o = outcomes(r, it, policy)
            c[o] = c.get(o, 0) + 1
        n, m = len(ins), len(oos)
        acc = top1([r for r, _ in ins], [it for _, it in ins])

        def pct(k: str, d: int, c: dict[str, int] = c) -> str:
            return f"{100 * c.get(k, 0) / max(1, d):.1f} %"

        rows.append(
            f"| {split} | {lang} | {n} | {100 * acc:.1f} % | {pct('correct', n)} | "
            f"{pct('clarify_ok', n)} | {pct('wrong', n)} | {pct('missed', n)} | {m} | "
            f"{pct('oos_answered', m)} | {pct('oos_clarified', m)} |"
        )
    return rows


async def bench_faq(cache: Path) -> dict[str, Any]:
    kb = await open_kb(cache)
    t0 = time.perf_counter()
    summary = await kb.import_entries("faq", default_faq(), prune=True)
    import_s = time.perf_counter() - t0
    items = faq_items()
    results = await search_all(kb, "faq", [(it.text, it.lang) for it in items], k=20)
    base = FusionWeights()
    weights = tune_weights(results, items)
    ranked = [fuse(r, weights) for r in results]
    policy = tune_policy(ranked, items)
    lines = [
        f"FAQ entries: {len(default_faq())} (imported: {len(summary.added)} added, "
        f"{len(summary.updated)} updated, {len(summary.unchanged)} unchanged in {import_s:.1f} s)",
        "",
        "Top-1 on dev by fusion (paraphrases, zh + en):",
        "",
        "| ranking | dev top-1 | test top-1 |",
        "|---|---|---|",
    ]
    dense_q = FusionWeights(centroid=0, answer=0, sparse_faq=0)
    bm25 = FusionWeights(question=0, centroid=0, answer=0, sparse_faq=1)
    for name, w in (
        ("dense, best question variant only", dense_q),
        ("BM25 only", bm25),
        ("defaults in settings", base),
        ("tuned on dev", weights),
    ):
        r = [fuse(x, w) for x in results]
        dev = [(a, it) for a, it in zip(r, items, strict=True) if it.dev]
        test = [(a, it) for a, it in zip(r, items, strict=True) if not it.dev]
        lines.append(
            f"| {name} | {100 * top1(*map(list, zip(*dev, strict=True))):.1f} % | "
            f"{100 * top1(*map(list, zip(*test, strict=True))):.1f} % |"
        )
    lines += ["", f"Tuned weights: {weights.model_dump()}", f"Tuned policy: {policy.model_dump()}"]
    lines += ["", *faq_table(ranked, items, policy)]
    await kb.close()
    text = "\n".join(lines)
    return {"text": text, "weights": weights.model_dump(), "policy": policy.model_dump()}


# -- document answers --------------------------------------------------------------------


def doc_items() -> list[Item]:
    data = yaml.safe_load((EVAL / "docs-eval.yaml").read_text("utf-8"))
    items: list[Item] = []
    for lang in ("zh", "en"):
        for doc_id, questions in data[lang].items():
            items += [Item(q, lang, doc_id, i % 2 == 0) for i, q in enumerate(questions)]
        faq = yaml.safe_load((EVAL / f"faq-eval-{lang}.yaml").read_text("utf-8"))
        items += [Item(q, lang, None, i % 2 == 0) for i, q in enumerate(faq["out_of_scope"])]
    return items


def doc_outcome(cands: list[Candidate], item: Item, policy: AnswerPolicy) -> str:
    d = decide(cands, policy, lang=item.lang)
    if item.gold is None:
        return "oos_answered" if d.outcome == "answer" else "oos_ok"
    if d.outcome != "answer":
        return "missed"
    return "correct" if d.chosen[0].entry_id == item.gold else "wrong"


async def bench_docs(cache: Path) -> dict[str, Any]:
    kb = await open_kb(cache)
    entries = []
    for path in sorted((EVAL / "docs").glob("*.md")):
        lang = "zh" if path.stem.endswith("-zh") else "en"
        entries += [r.entry for r in parse_file(path, kind="doc", lang=lang).rows]
    await kb.import_entries("docs", entries, prune=True)
    items = doc_items()
    results = await search_all(kb, "docs", [(it.text, it.lang) for it in items], k=20)
    dev = [i for i, it in enumerate(items) if it.dev]
    n_oos = sum(items[i].gold is None for i in dev)
    n_in = len(dev) - n_oos
    best: tuple[float, FusionWeights, AnswerPolicy] | None = None
    for title, sparse in itertools.product([0.0, 0.2, 0.5], [0.0, 0.1, 0.2, 0.3, 0.5, 1.0]):
        w = FusionWeights(title=title, sparse_doc=sparse)
        dev_ranked = {i: fuse(results[i], w) for i in dev}
        for th in np.arange(0.3, 1.5, 0.01):
            policy = AnswerPolicy(doc_threshold=round(float(th), 3))  # default lang offsets
            outs = [doc_outcome(dev_ranked[i], items[i], policy) for i in dev]
            if outs.count("oos_answered") > 0.05 * n_oos:
                continue
            score = (outs.count("correct") - outs.count("wrong")) / n_in
            if best is None or score > best[0] + 1e-9:
                best = (score, w, policy)
    assert best is not None
    _, w, policy = best
    ranked = [fuse(r, w) for r in results]
    lines = [
        f"Documents: {len(entries)} (3 zh, 3 en; bench/kb-data/docs), "
        f"{await kb.retriever.count('docs')} passages. Tuned on dev: title={w.title}, "
        f"sparse_doc={w.sparse_doc}, doc_threshold={policy.doc_threshold}.",
        "",
        '| split | lang | questions | top-1 doc | answered right | wrong doc | "not in KB" '
        "| out-of-scope | OOS answered |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split, lang in itertools.product(("dev", "test"), ("zh", "en", "all")):
        sel = [
            i
            for i, it in enumerate(items)
            if it.dev == (split == "dev") and lang in (it.lang, "all")
        ]
        ins = [i for i in sel if items[i].gold]
        oos = [i for i in sel if not items[i].gold]
        outs = {i: doc_outcome(ranked[i], items[i], policy) for i in sel}
        acc = top1([ranked[i] for i in ins], [items[i] for i in ins])

        def pct(k: str, idx: list[int], outs: dict[int, str] = outs) -> str:
            return f"{100 * sum(outs[i] == k for i in idx) / max(1, len(idx)):.1f} %"

        lines.append(
            f"| {split} | {lang} | {len(ins)} | {100 * acc:.1f} % | {pct('correct', ins)} | "
            f"{pct('wrong', ins)} | {pct('missed', ins)} | {len(oos)} | "
            f"{pct('oos_answered', oos)} |"
        )
    await kb.close()
    return {"text": "\n".join(lines), "weights": w.model_dump(), "policy": policy.model_dump()}


# -- tau2 banking_knowledge --------------------------------------------------------------

_BOILER = re.compile(
    r"(you are (now |currently )?(playing the role|on the line)|never respond as|"
    r"do not volunteer|your (user id|phone number|email|date of birth|address) is)",
    re.IGNORECASE,
)


def reason_of(instructions: str) -> str:
    m = re.search(r"\*\*Your situation:\*\*\s*(.+?)(?:\n\s*\n|$)", instructions, re.DOTALL)
    if m:
        return m.group(1).strip()[:1500]
    text = re.split(r"\n#+ |\n\*\*How to|Here are your behavior", instructions)[0]
    sentences = re.split(r"(?<=[.!?])\s+", text.replace("**", ""))
    kept = [s for s in sentences if s.strip() and not _BOILER.search(s)]
    return " ".join(kept)[:1500]


def doc_ranking(result: SearchResult, mode: str, w: FusionWeights) -> list[str]:
    if mode == "rrf (k=60, for reference)":
        scores: dict[str, float] = {}
        for sub in ("dense", "bm25"):
            for rank, doc in enumerate(doc_ranking(result, sub, w)):
                scores[doc] = scores.get(doc, 0.0) + 1.0 / (60 + rank + 1)
        return sorted(scores, key=lambda d: -scores[d])
    if mode == "dense":
        w = w.model_copy(update={"sparse_doc": 0.0})
    elif mode == "bm25":
        w = FusionWeights(chunk=0, title=0, sparse_doc=1.0)
    return [c.entry_id for c in fuse(result, w) if c.kind == "doc"]


def recall_table(rankings: list[list[str]], golds: list[set[str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"R@{k}"] = float(
            np.mean([len(set(r[:k]) & g) / len(g) for r, g in zip(rankings, golds, strict=True)])
        )
    mrr = []
    for r, g in zip(rankings, golds, strict=True):
        first = next((i for i, d in enumerate(r) if d in g), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
    out["MRR"] = float(np.mean(mrr))
    return out


async def bench_tau2(cache: Path) -> dict[str, Any]:
    kb = await open_kb(cache, top_k=100)
    parsed = parse_file(TAU2 / "documents.jsonl", kind="doc", lang="en")
    entries = [r.entry for r in parsed.rows]
    t0 = time.perf_counter()
    summary = await kb.import_entries("tau2", entries)
    import_s = time.perf_counter() - t0
    chunks = await kb.retriever.count("tau2")
    tasks = json.loads((TAU2 / "tasks.json").read_text("utf-8"))
    tasks = [t for t in tasks if t.get("required_documents")]
    queries = [(reason_of(t["user_scenario"]["instructions"]), "en") for t in tasks]
    golds = [set(t["required_documents"]) for t in tasks]
    results = await search_all(kb, "tau2", queries, k=100)
    dev = [i for i in range(len(tasks)) if i % 2 == 0]
    best: tuple[float, FusionWeights] | None = None
    grid = itertools.product([0.0, 0.2, 0.5], [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0])
    for title, sparse in grid:
        w = FusionWeights(title=title, sparse_doc=sparse)
        ranks = [doc_ranking(results[i], "fused", w) for i in dev]
        m = recall_table(ranks, [golds[i] for i in dev])
        score = (m["MRR"] + m["R@10"]) / 2
        if best is None or score > best[0]:
            best = (score, w)
    assert best is not None
    w = best[1]
    lines = [
        f"Corpus: {len(entries)} documents ({len(parsed.rejected)} rejected), {chunks} passages "
        f"indexed; import {import_s:.1f} s ({len(summary.added)} added, "
        f"{len(summary.unchanged)} unchanged from the cache). Tasks: {len(tasks)}.",
        f"Document fusion tuned on dev (even tasks, by (MRR + R@10) / 2): title={w.title}, "
        f"sparse_doc={w.sparse_doc}",
        "",
        "| split | ranking | R@1 | R@5 | R@10 | MRR |",
        "|---|---|---|---|---|---|",
    ]
    for split, idx in (
        ("test (odd tasks)", [i for i in range(len(tasks)) if i % 2]),
        ("all 97", list(range(len(tasks)))),
    ):
        for mode in ("dense", "bm25", "fused", "rrf (k=60, for reference)"):
            ranks = [doc_ranking(results[i], mode, w) for i in idx]
            m = recall_table(ranks, [golds[i] for i in idx])
            lines.append(
                f"| {split} | {mode} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} "
                f"| {m['MRR']:.3f} |"
            )
    await kb.close()
    return {"text": "\n".join(lines), "doc_weights": w.model_dump()}


# -- speed -------------------------------------------------------------------------------


def synthetic_corpus(
    texts: Sequence[str], vecs: np.ndarray, *, n: int, per_doc: int = 5
) -> list[EntryChange]:
    """n chunks in n / per_doc documents: each chunk is a real passage's vector plus noise
    (renormalised) and that passage's tokens plus a unique id token."""
    rng = np.random.default_rng(0)
    tokens = [tuple(tokenize(t)) for t in texts]
    changes = []
    for d in range(n // per_doc):
        passages = []
        for j in range(per_doc):
            i = d * per_doc + j
            base = int(rng.integers(len(texts)))
            v = vecs[base] + rng.normal(0, 0.02, vecs.shape[1]).astype(np.float32)
            v /= np.linalg.norm(v)
            p = Passage(
                key=f"s{d}#{j}",
                entry_id=f"s{d}",
                kind="doc",
                role="chunk",
                lang="zh",
                title=f"doc {d}",
                text=texts[base],
                sparse_text=texts[base],
            )
            passages.append(
                IndexedPassage(passage=p, vector=v, tokens=(*tokens[base], f"sku{i:06d}"))
            )
        entry = DocEntry(id=f"s{d}", lang="zh", title=f"doc {d}", content="synthetic")
        changes.append(EntryChange(entry=entry, digest=str(d), passages=tuple(passages)))
    return changes


async def bench_speed(cache: Path, n: int, questions: int) -> dict[str, Any]:
    kb = await open_kb(cache)
    embedder = kb.embedder
    seeds = [p.passage.text for p in await kb.store.passages("tau2", embedder=embedder.name)]
    seeds += [p.passage.text for p in await kb.store.passages("faq", embedder=embedder.name)]
    await kb.close()
    sample = seeds[::3][:1500]
    t0 = time.perf_counter()
    vecs = await embedder.embed(sample)
    embed_rate = len(sample) / (time.perf_counter() - t0)
    rss0 = rss_mb()
    corpus = synthetic_corpus(sample, vecs, n=n)
    db = cache / "speed.db"
    db.unlink(missing_ok=True)
    store = SqlKbStore(make_engine(f"sqlite+aiosqlite:///{db}"))
    await store.start()
    t0 = time.perf_counter()
    await store.write("speed", ChangeSet(upserts=tuple(corpus)), embedder=embedder.name)
    write_s = time.perf_counter() - t0
    del corpus
    t0 = time.perf_counter()
    loaded = await store.passages("speed", embedder=embedder.name)
    read_s = time.perf_counter() - t0
    await store.close()
    retriever = InMemoryRetriever()
    t0 = time.perf_counter()
    await retriever.load("speed", loaded)
    build_s = time.perf_counter() - t0
    del loaded
    rss_peak = rss_mb()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed load buffers back to the OS
    rss1 = rss_mb()
    qs = [it.text for it in faq_items() if it.lang == "zh"][:questions]
    weights = KnowledgeSettings().weights
    for q in qs[:10]:  # warm up (first calls allocate buffers)
        v = (await embedder.embed([q]))[0]
        sq = SearchQuery(text=q, lang="zh", vector=v, tokens=tuple(tokenize(q)), k=20)
        await retriever.search("speed", sq)
    times, search_times = [], []
    for q in qs:
        t = time.perf_counter()
        v = (await embedder.embed([q]))[0]
        t1 = time.perf_counter()
        sq = SearchQuery(text=q, lang="zh", vector=v, tokens=tuple(tokenize(q)), k=20)
        fuse(await retriever.search("speed", sq), weights)
        end = time.perf_counter()
        times.append(end - t)
        search_times.append(end - t1)
    ms, sms = np.array(times) * 1000, np.array(search_times) * 1000
    per_chunk = 1 / embed_rate + (write_s + build_s) / n
    text = (
        f"Corpus: {n} synthetic chunks in {n // 5} documents, one partition (vectors: real "
        f"USE vectors of {len(sample)} real passages plus noise; tokens: theirs plus a unique "
        f"id each). {len(qs)} Chinese questions from the FAQ test set, one at a time.\n\n"
        f"| measure | value |\n|---|---|\n"
        f"| question latency p50 (embed + dense + BM25 + fuse) | {np.percentile(ms, 50):.1f} ms |\n"
        f"| question latency p99 | {np.percentile(ms, 99):.1f} ms |\n"
        f"| of which search + fuse, p50 / p99 | {np.percentile(sms, 50):.1f} / "
        f"{np.percentile(sms, 99):.1f} ms |\n"
        f"| embedding (USE, 1 thread, real passages) | {embed_rate:.0f} chunks/s |\n"
        f"| store write (SQLite, one transaction) | {write_s:.1f} s "
        f"({n / write_s:.0f} chunks/s) |\n"
        f"| store read at restart | {read_s:.1f} s |\n"
        f"| index build (IVF-SQ8 + BM25) | {build_s:.1f} s ({n / build_s:.0f} chunks/s) |\n"
        f"| import throughput, all steps | {1 / per_chunk:.0f} chunks/s "
        f"(~{n * per_chunk / 60:.0f} min for {n}) |\n"
        f"| RSS with the encoder loaded | {rss0:.0f} MB |\n"
        f"| RSS with {n} chunks indexed, right after loading | {rss_peak:.0f} MB |\n"
        f"| RSS with {n} chunks indexed, freed load buffers returned (malloc_trim) "
        f"| {rss1:.0f} MB |\n"
    )
    return {"text": text, "p99_ms": float(np.percentile(ms, 99))}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["faq", "docs", "tau2", "speed", "all"])
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / ".kb-cache")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    print(f"machine: {out['machine']}\ndate: {out['date']}\n")
    if args.what in ("faq", "all"):
        out["faq"] = await bench_faq(args.cache)
        print("## FAQ matching\n\n" + out["faq"]["text"] + "\n")
    if args.what in ("docs", "all"):
        out["docs"] = await bench_docs(args.cache)
        print("## Document answers\n\n" + out["docs"]["text"] + "\n")
    if args.what in ("tau2", "all"):
        out["tau2"] = await bench_tau2(args.cache)
        print("## tau2 banking_knowledge retrieval\n\n" + out["tau2"]["text"] + "\n")
    if args.what in ("speed", "all"):
        out["speed"] = await bench_speed(args.cache, args.chunks, args.questions)
        print("## Speed\n\n" + out["speed"]["text"] + "\n")
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    asyncio.run(main())
