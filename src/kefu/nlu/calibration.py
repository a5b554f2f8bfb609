"""Fitting on held-out predictions: validation splits, the probability temperature, and the
out-of-scope threshold. Nothing here is set by hand."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]
from sklearn.model_selection import (  # type: ignore[import-untyped]
    StratifiedKFold,
    train_test_split,
)

from kefu.nlu.base import OUT_OF_SCOPE

if TYPE_CHECKING:
    from kefu.nlu.training import TrainConfig

F32 = npt.NDArray[np.float32]
Idx = npt.NDArray[np.int64]
Split = tuple[Idx, Idx]  # (train indices, held-out indices)
GRID = np.round(np.arange(0.0, 0.951, 0.01), 2)
NO_CLASS = -1e4  # logit of an intent a fold's model never saw


def validation_splits(y: npt.NDArray[np.str_], cfg: TrainConfig) -> list[Split]:
    """K stratified folds (small data) or one stratified split; intents with too few
    examples to be held out always stay in training. Empty when there is too little data."""
    k = cfg.folds if len(y) <= cfg.cv_max_examples else 0
    need = max(k, 3)
    counts = {lab: int((y == lab).sum()) for lab in set(y.tolist())}
    ok = np.array([counts[lab] >= need for lab in y])
    idx = np.arange(len(y), dtype=np.int64)
    if ok.sum() < 10 or len({lab for lab, c in counts.items() if c >= need}) < 2:
        return []
    rare = idx[~ok]
    if k:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.seed)
        return [
            (np.concatenate([idx[ok][tr], rare]), idx[ok][ho])
            for tr, ho in folds.split(idx[ok], y[ok])
        ]
    if cfg.heldout_fraction <= 0:
        return []
    tr, ho = train_test_split(
        idx[ok], test_size=cfg.heldout_fraction, random_state=cfg.seed, stratify=y[ok]
    )
    return [(np.concatenate([np.asarray(tr, dtype=np.int64), rare]), np.asarray(ho))]


def align_columns(z: F32, have: tuple[str, ...], want: tuple[str, ...]) -> F32:
    """Reorder logit columns from `have` to `want`; intents missing in `have` get NO_CLASS."""
    out = np.full((z.shape[0], len(want)), NO_CLASS, dtype=np.float32)
    pos = {lab: i for i, lab in enumerate(have)}
    for j, lab in enumerate(want):
        if lab in pos:
            out[:, j] = z[:, pos[lab]]
    return out


def softmax_rows(z: F32) -> F32:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def fit_temperature(z: F32, y: npt.NDArray[np.str_], labels: tuple[str, ...]) -> float:
    """The temperature that minimises the log loss of softmax(z / T) on held-out data."""
    pos = {lab: i for i, lab in enumerate(labels)}
    known = np.array([lab in pos for lab in y])
    if known.sum() < 5:
        return 1.0
    gold = np.array([pos[lab] for lab in y[known]])
    zk = z[known]

    def nll(log_t: float) -> float:
        p = softmax_rows(zk / math.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(gold)), gold], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(math.exp(res.x))


def decide(probs: F32, labels: tuple[str, ...], threshold: float) -> list[str]:
    """Serving decision: the top intent, or out_of_scope below the threshold."""
    top = probs.argmax(axis=1)
    return [OUT_OF_SCOPE if probs[r, k] < threshold else labels[k] for r, k in enumerate(top)]


def tune_threshold(
    probs: F32, y: npt.NDArray[np.str_], labels: tuple[str, ...], *, oos_recall: float = 0.85
) -> tuple[float, dict[str, float]]:
    """The out-of-scope threshold, from held-out predictions.

    With out-of-scope examples: the lowest threshold whose out-of-scope recall reaches
    `oos_recall` (in-scope accuracy only falls as the threshold rises), or, when none does,
    the middle of the plateau that maximises the mean of the two. Without them: the highest
    threshold that costs at most half a point of in-scope accuracy."""
    is_oos = y == OUT_OF_SCOPE
    scores: list[tuple[float, float, float]] = []
    for t in GRID:
        pred = np.array(decide(probs, labels, float(t)))
        acc_in = float((pred[~is_oos] == y[~is_oos]).mean()) if (~is_oos).any() else 0.0
        rec = float((pred[is_oos] == OUT_OF_SCOPE).mean()) if is_oos.any() else float("nan")
        scores.append((float(t), acc_in, rec))
    feasible = [t for t, _, r in scores if r >= oos_recall - 1e-9]
    if is_oos.any() and feasible:
        good = [min(feasible)]
    elif is_oos.any():
        best = max((a + r) / 2 for _, a, r in scores)
        good = [t for t, a, r in scores if (a + r) / 2 >= best - 1e-9]
    else:
        top_acc = max(a for _, a, _ in scores)
        good = [max(t for t, a, _ in scores if a >= top_acc - 0.005)]
    threshold = float(np.median(good))
    pred = np.array(decide(probs, labels, threshold))
    in_scope = float((pred[~is_oos] == y[~is_oos]).mean()) if (~is_oos).any() else 0.0
    report = {
        "threshold": threshold,
        "accuracy": float((pred == y).mean()),
        "in_scope_accuracy": in_scope,
        "examples": float(len(y)),
        "score": in_scope,
    }
    if is_oos.any():
        report["oos_recall"] = float((pred[is_oos] == OUT_OF_SCOPE).mean())
        # Candidates (text weights) compare by in-scope accuracy once the recall target is met.
        met = report["oos_recall"] >= oos_recall - 1e-9
        report["score"] = in_scope + (1.0 if met else report["oos_recall"] - 1.0)
    return threshold, report
