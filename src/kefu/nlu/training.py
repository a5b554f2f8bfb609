"""Training the linear intent model, with the out-of-scope threshold and the probability
temperature fitted on a held-out split of the examples (never chosen by hand).

1. Normalise the texts, embed them (one batch), split 80/20 stratified by intent.
2. Fit TF-IDF + logistic regression on the 80 %; on the 20 %, fit the temperature that
   minimises the log loss, then pick the out-of-scope threshold that maximises the mean of
   in-scope accuracy and out-of-scope recall (in-scope accuracy alone, allowing a half-point
   loss, when there are no out-of-scope examples). The weight of the n-gram block against
   the embedding block is chosen the same way, from `text_weights`.
3. Refit on all examples and keep the temperature, threshold and weight.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from kefu.nlu.base import Embedder, Vectors
from kefu.nlu.calibration import (
    Split,
    align_columns,
    fit_temperature,
    softmax_rows,
    tune_threshold,
    validation_splits,
)
from kefu.nlu.examples import Example, examples_digest
from kefu.nlu.features import TfidfFeatures, analyze
from kefu.nlu.model import LinearIntentModel, ModelInfo
from kefu.nlu.normalize import normalize

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    c: float = 10.0  # inverse L2 strength of the logistic regression
    heldout_fraction: float = 0.2
    # Up to this many examples, the temperature, threshold and text weight are fitted on
    # out-of-fold predictions of a `folds`-fold cross-validation (steadier on small data);
    # above it, on one held-out split (`heldout_fraction`), to keep training fast.
    cv_max_examples: int = 3000
    folds: int = 5
    seed: int = 0
    text_weight: float = 0.5  # scale of the TF-IDF block against the embedding block
    # Candidate text weights; the one scoring best on the held-out split is kept.
    text_weights: tuple[float, ...] = (0.5, 1.0)
    emb_weight: float = 1.0
    max_iter: int = 300
    # Out-of-scope recall the threshold must reach on held-out data (the goal is 0.80).
    oos_recall: float = 0.85
    use_rules: bool = True

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ValueError("c must be positive")
        if not 0.0 <= self.heldout_fraction < 0.9:
            raise ValueError("heldout_fraction must be in [0, 0.9)")
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if not self.text_weights or min(self.text_weights) < 0:
            raise ValueError("text_weights must be non-negative and not empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainReport:
    model: LinearIntentModel
    seconds: float
    examples: int
    intents: int
    heldout: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Fitted:
    labels: tuple[str, ...]
    features: TfidfFeatures
    w_text: F32
    w_emb: F32
    bias: F32

    def logits(self, texts: Sequence[str], emb: Vectors) -> F32:
        return np.asarray(
            featurize(self.features, texts) @ self.w_text.T + emb @ self.w_emb.T + self.bias,
            dtype=np.float32,
        )


def featurize(features: TfidfFeatures, texts: Sequence[str]) -> sparse.csr_matrix:
    """The serving-side TF-IDF rows of many normalised texts, as one sparse matrix."""
    indptr = [0]
    indices: list[npt.NDArray[np.int64]] = []
    data: list[npt.NDArray[np.float32]] = []
    for t in texts:
        idx, vals = features.transform(t)
        indices.append(idx)
        data.append(vals)
        indptr.append(indptr[-1] + len(idx))
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.array(indptr),
        ),
        shape=(len(texts), len(features)),
    )


def train(
    examples: Sequence[Example],
    *,
    embedder: Embedder,
    config: TrainConfig | None = None,
    source: str = "",
) -> TrainReport:
    """Train a model from labelled examples. Raises ValueError on unusable data."""
    cfg = config or TrainConfig()
    started = time.perf_counter()
    texts = [normalize(e.text) for e in examples]
    y = np.array([e.intent for e in examples])
    labels = tuple(sorted(set(y.tolist())))
    if len(labels) < 2:
        raise ValueError("need examples of at least two intents")
    emb = embedder.embed(texts)
    temperature, threshold = 1.0, 0.0
    heldout: dict[str, float] = {}
    splits = validation_splits(y, cfg)
    if splits:
        best: tuple[float, float, dict[str, float], TrainConfig] | None = None
        for weight in cfg.text_weights:
            wcfg = replace(cfg, text_weight=weight)
            z, gold = _out_of_fold(texts, emb, y, labels, splits, wcfg)
            temp = fit_temperature(z, gold, labels)
            thr, rep = tune_threshold(
                softmax_rows(z / temp), gold, labels, oos_recall=cfg.oos_recall
            )
            if best is None or rep["score"] > best[2]["score"]:
                best = (temp, thr, rep, wcfg)
        assert best is not None
        temperature, threshold, heldout, cfg = best
        heldout["text_weight"] = cfg.text_weight
    final = _fit(texts, emb, y, cfg)
    info = ModelInfo(
        embedder=embedder.name,
        threshold=threshold,
        temperature=temperature,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        examples=len(examples),
        examples_sha256=examples_digest(examples),
        use_rules=cfg.use_rules,
        heldout=heldout,
    )
    model = LinearIntentModel(
        labels=final.labels,
        features=final.features,
        w_text=final.w_text,
        w_emb=final.w_emb,
        bias=final.bias,
        info=info,
    )
    return TrainReport(
        model=model,
        seconds=time.perf_counter() - started,
        examples=len(examples),
        intents=len(labels),
        heldout=heldout,
    )


def _out_of_fold(
    texts: Sequence[str],
    emb: Vectors,
    y: npt.NDArray[np.str_],
    labels: tuple[str, ...],
    splits: list[Split],
    cfg: TrainConfig,
) -> tuple[F32, npt.NDArray[np.str_]]:
    """Logits (columns in `labels` order) of every held-out example, and their labels."""
    zs: list[F32] = []
    golds: list[npt.NDArray[np.str_]] = []
    for tr, ho in splits:
        part = _fit([texts[i] for i in tr], emb[tr], y[tr], cfg)
        z = part.logits([texts[i] for i in ho], emb[ho])
        zs.append(align_columns(z, part.labels, labels))
        golds.append(y[ho])
    return np.vstack(zs), np.concatenate(golds)


def _fit(texts: Sequence[str], emb: Vectors, y: npt.NDArray[np.str_], cfg: TrainConfig) -> _Fitted:
    import warnings

    vec = TfidfVectorizer(
        analyzer=analyze,
        sublinear_tf=True,
        min_df=2 if len(texts) >= 500 else 1,
        dtype=np.float32,
    )
    try:
        xt = vec.fit_transform(texts)
        vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        idf = np.asarray(vec.idf_, dtype=np.float32)
    except ValueError:  # no n-gram survived (tiny or empty texts): embeddings only
        xt = sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        vocab, idf = [], np.zeros(0, dtype=np.float32)
    x = sparse.hstack([xt * cfg.text_weight, sparse.csr_matrix(emb * cfg.emb_weight)]).tocsr()
    lr = LogisticRegression(C=cfg.c, max_iter=cfg.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr.fit(x, y)
    coef = np.asarray(lr.coef_, dtype=np.float32)
    bias = np.asarray(lr.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; softmax over [0, z] is the same
        coef = np.vstack([np.zeros_like(coef), coef])
        bias = np.array([0.0, bias[0]], dtype=np.float32)
    v = len(vocab)
    return _Fitted(
        labels=tuple(str(c) for c in lr.classes_),
        features=TfidfFeatures(vocab, idf),
        w_text=np.ascontiguousarray(coef[:, :v] * cfg.text_weight),
        w_emb=np.ascontiguousarray(coef[:, v:] * cfg.emb_weight),
        bias=bias,
    )
