"""The trained intent model: a linear classifier over [TF-IDF n-grams | sentence embedding].

Stored as one `.npz` file (arrays + a JSON header, no pickle), written atomically, so a
server can swap in a newly trained file while it runs and any scikit-learn version reads it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kefu.nlu.base import OUT_OF_SCOPE, Vectors
from kefu.nlu.features import TfidfFeatures

FORMAT_VERSION = 1
F32 = npt.NDArray[np.float32]


class ModelFileError(ValueError):
    """The model file is missing, damaged or made for another embedder."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What a model file says about itself (shown by `kefu nlu eval` and logs)."""

    embedder: str
    threshold: float
    temperature: float
    trained_at: str = ""
    source: str = ""
    examples: int = 0
    examples_sha256: str = ""
    use_rules: bool = True
    heldout: dict[str, float] = field(default_factory=dict)


class LinearIntentModel:
    """Multinomial logistic regression weights with a tuned out-of-scope threshold and a
    temperature that calibrates the probabilities (both fitted on held-out data)."""

    def __init__(
        self,
        *,
        labels: tuple[str, ...],
        features: TfidfFeatures,
        w_text: F32,
        w_emb: F32,
        bias: F32,
        info: ModelInfo,
    ) -> None:
        n = len(labels)
        if n < 2:
            raise ValueError("a model needs at least two intents")
        if w_text.shape != (n, len(features)) or w_emb.shape[0] != n or bias.shape != (n,):
            raise ValueError("weight shapes do not match the labels and features")
        self.labels = labels
        self.features = features
        self.w_text = w_text
        self._w_text_t = np.ascontiguousarray(w_text.T)  # rows per feature: fast gathers
        self.w_emb = w_emb
        self.bias = bias
        self.info = info
        self._oos = labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else -1

    @property
    def dim(self) -> int:
        return int(self.w_emb.shape[1])

    @property
    def threshold(self) -> float:
        return self.info.threshold

    def logits(self, norm_text: str, embedding: Vectors) -> F32:
        idx, vals = self.features.transform(norm_text)
        z = self.w_emb @ embedding.reshape(-1).astype(np.float32) + self.bias
        if len(idx):
            z = z + vals @ self._w_text_t[idx]
        return np.asarray(z, dtype=np.float32)

    def probabilities(self, norm_text: str, embedding: Vectors) -> F32:
        return softmax(self.logits(norm_text, embedding) / self.info.temperature)

    def ranked(self, norm_text: str, embedding: Vectors) -> list[tuple[str, float]]:
        p = self.probabilities(norm_text, embedding)
        order = np.argsort(-p)
        return [(self.labels[i], float(p[i])) for i in order]

    # -- files -----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically (temporary file + rename): a reader never sees half a model."""
        header = {
            "format": FORMAT_VERSION,
            "labels": list(self.labels),
            "vocabulary": list(self.features.vocabulary),
            "info": _info_to_json(self.info),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(
                    fh,
                    header=np.array(json.dumps(header, ensure_ascii=False)),
                    w_text=self.w_text.astype(np.float32),
                    w_emb=self.w_emb.astype(np.float32),
                    bias=self.bias.astype(np.float32),
                    idf=self.features.idf.astype(np.float32),
                )
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the server may run as another user
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path | Any) -> LinearIntentModel:
        """Load from a path or a binary file object; raises ModelFileError when unreadable."""
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: np.asarray(z[k], dtype=np.float32) for k in _ARRAYS}
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"cannot read model {path}: {exc}") from exc
        if header.get("format") != FORMAT_VERSION:
            raise ModelFileError(f"model {path} has format {header.get('format')!r}")
        try:
            features = TfidfFeatures(header["vocabulary"], arrays["idf"])
            return cls(
                labels=tuple(str(x) for x in header["labels"]),
                features=features,
                w_text=arrays["w_text"],
                w_emb=arrays["w_emb"],
                bias=arrays["bias"],
                info=_info_from_json(header["info"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model {path} is inconsistent: {exc}") from exc


_ARRAYS = ("w_text", "w_emb", "bias", "idf")


def softmax(z: F32) -> F32:
    e = np.exp(z - np.max(z))
    return np.asarray(e / e.sum(), dtype=np.float32)


def _info_to_json(info: ModelInfo) -> dict[str, Any]:
    return {
        "embedder": info.embedder,
        "threshold": info.threshold,
        "temperature": info.temperature,
        "trained_at": info.trained_at,
        "source": info.source,
        "examples": info.examples,
        "examples_sha256": info.examples_sha256,
        "use_rules": info.use_rules,
        "heldout": info.heldout,
    }


def _info_from_json(d: dict[str, Any]) -> ModelInfo:
    temperature = float(d["temperature"])
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    return ModelInfo(
        embedder=str(d["embedder"]),
        threshold=float(d["threshold"]),
        temperature=temperature,
        trained_at=str(d.get("trained_at", "")),
        source=str(d.get("source", "")),
        examples=int(d.get("examples", 0)),
        examples_sha256=str(d.get("examples_sha256", "")),
        use_rules=bool(d.get("use_rules", True)),
        heldout={str(k): float(v) for k, v in dict(d.get("heldout", {})).items()},
    )
