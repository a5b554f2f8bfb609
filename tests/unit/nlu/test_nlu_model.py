"""Training, the stored model file, and swapping in a retrained model without a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from kefu.nlu.base import OUT_OF_SCOPE, Embedder
from kefu.nlu.calibration import tune_threshold
from kefu.nlu.classifier import EmbeddingClassifier, ReloadingClassifier
from kefu.nlu.examples import Example, builtin_out_of_scope
from kefu.nlu.features import TfidfFeatures, analyze
from kefu.nlu.model import LinearIntentModel, ModelFileError
from kefu.nlu.training import TrainConfig, train

SHOP = {
    "track_order": [
        "where is my order",
        "track my order",
        "order tracking please",
        "has my order shipped",
        "where's my package",
        "track the order",
    ],
    "gift_wrap": [
        "can you gift wrap it",
        "add gift wrapping",
        "i want it wrapped as a gift",
        "gift wrap please",
        "do you offer gift wrapping",
        "wrap it for a present",
    ],
    "loyalty": [
        "how many points do i have",
        "loyalty points balance",
        "my reward points",
        "check my points",
        "points balance please",
        "how do rewards points work",
    ],
}


def shop_examples(intents: dict[str, list[str]] = SHOP) -> list[Example]:
    return [Example(text=t, intent=k) for k, ts in intents.items() for t in ts]


@pytest.fixture(scope="module")
def shop_model(embedder: Embedder) -> LinearIntentModel:
    examples = shop_examples() + list(builtin_out_of_scope())
    return train(examples, embedder=embedder, source="test").model


def test_a_trained_model_knows_the_shops_intents(
    shop_model: LinearIntentModel, embedder: Embedder
) -> None:
    clf = EmbeddingClassifier(shop_model, embedder)
    assert clf.labels == {"track_order", "gift_wrap", "loyalty", OUT_OF_SCOPE}
    assert clf.classify("could you wrap this as a present", lang="en")[0][0] == "gift_wrap"
    assert clf.classify("how many reward points have i got", lang="en")[0][0] == "loyalty"


def test_threshold_and_temperature_come_from_held_out_data(shop_model: LinearIntentModel) -> None:
    info = shop_model.info
    assert 0.0 <= info.threshold < 1.0
    assert info.temperature > 0
    assert info.heldout["examples"] > 0
    # the lowest threshold that reaches the out-of-scope recall target on held-out data
    assert info.heldout["oos_recall"] >= 0.85


def test_model_file_round_trip(
    shop_model: LinearIntentModel, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "m.npz"
    shop_model.save(path)
    loaded = LinearIntentModel.load(path)
    e = embedder.embed(["gift wrap please"])[0]
    text = "gift wrap please"
    np.testing.assert_allclose(
        loaded.probabilities(text, e), shop_model.probabilities(text, e), rtol=1e-5
    )
    assert loaded.info == shop_model.info


def test_broken_or_foreign_model_files_are_refused(
    shop_model: LinearIntentModel, embedder: Embedder, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        LinearIntentModel.load(bad)
    with pytest.raises(ModelFileError):
        LinearIntentModel.load(tmp_path / "missing.npz")

    class OtherEmbedder:
        name = "other-encoder"

        def embed(self, texts: list[str]) -> np.ndarray:
            return embedder.embed(texts)

    with pytest.raises(ModelFileError, match="retrain"):
        EmbeddingClassifier(shop_model, OtherEmbedder())  # type: ignore[arg-type]


def test_training_refuses_a_single_intent(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="two intents"):
        train([Example(text="hi", intent="greeting")] * 5, embedder=embedder)
    with pytest.raises(ValueError):
        TrainConfig(c=0)


def test_serving_features_equal_scikit_learns() -> None:
    texts = ["where is my refund", "退款怎么还没到", "refund 退款 1234", "where is where is"]
    vec = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, dtype=np.float32)
    matrix = vec.fit_transform(texts).toarray()
    vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
    feats = TfidfFeatures(vocab, vec.idf_.astype(np.float32))
    for row, text in zip(matrix, texts, strict=True):
        idx, vals = feats.transform(text)
        dense = np.zeros(len(vocab), dtype=np.float32)
        dense[idx] = vals
        np.testing.assert_allclose(dense, row, rtol=1e-5, atol=1e-6)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_retrained_model_is_swapped_in_without_restart(
    shop_model: LinearIntentModel, embedder: Embedder, tmp_path: Path
) -> None:
    path = tmp_path / "nlu" / "model.npz"
    clock = Clock()
    fallback_calls: list[int] = []

    def fallback() -> LinearIntentModel:
        fallback_calls.append(1)
        return shop_model

    clf = ReloadingClassifier(
        path, embedder=embedder, fallback=fallback, check_every_s=5.0, clock=clock
    )
    assert fallback_calls == [1]  # no shop model yet: the default serves
    assert "newsletter" not in clf.labels

    more = dict(
        SHOP,
        newsletter=[
            "unsubscribe me",
            "stop the newsletter",
            "no more emails",
            "cancel my newsletter",
            "unsubscribe from mails",
            "newsletter opt out",
        ],
    )
    train(shop_examples(more), embedder=embedder).model.save(path)
    clock.now = 1.0
    assert "newsletter" not in clf.labels  # not looked at again before the interval
    clock.now = 6.0
    assert "newsletter" in clf.labels
    assert clf.classify("please unsubscribe me from emails", lang="en")[0][0] == "newsletter"

    path.write_bytes(b"half-written garbage")  # a broken file never replaces a good model
    clock.now = 12.0
    assert "newsletter" in clf.labels

    path.unlink()  # removed: back to the default
    clock.now = 18.0
    assert "newsletter" not in clf.labels


def test_threshold_is_the_lowest_that_reaches_the_recall_target() -> None:
    labels = ("a", "b", OUT_OF_SCOPE)
    # out-of-scope examples the model finds "a"-ish with 0.5 and 0.7; in-scope ones are sure
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.5, 0.2, 0.3], [0.7, 0.1, 0.2]],
        dtype=np.float32,
    )
    y = np.array(["a", "b", OUT_OF_SCOPE, OUT_OF_SCOPE])
    t, report = tune_threshold(probs, y, labels, oos_recall=0.5)
    assert 0.5 < t <= 0.51  # rejects the 0.5 one, keeps every in-scope example
    assert report["oos_recall"] == 0.5
    assert report["in_scope_accuracy"] == 1.0
    t, report = tune_threshold(probs, y, labels, oos_recall=1.0)
    assert 0.7 < t <= 0.71
    assert report["oos_recall"] == 1.0
