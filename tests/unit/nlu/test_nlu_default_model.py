"""The shipped default: 23 intents, enough examples, and a model built from them."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
import yaml

from kefu.nlu.base import OUT_OF_SCOPE, Embedder
from kefu.nlu.examples import Example, default_examples, examples_digest
from kefu.nlu.factory import load_default_model
from kefu.nlu.model import LinearIntentModel
from kefu.nlu.pipeline import RULE_ONLY
from kefu.nlu.rules import RuleSet
from kefu.settings import Settings

DEFAULT_INTENTS = {
    "greeting",
    "goodbye",
    "thanks",
    "human_agent",
    "order_status",
    "logistics_tracking",
    "delivery_time",
    "change_address",
    "cancel_order",
    "return_request",
    "exchange_request",
    "refund_status",
    "refund_policy",
    "invoice",
    "price_protection",
    "presale",
    "payment",
    "product_inquiry",
    "promotion",
    "complaint",
    "warranty_repair",
    "account",
    OUT_OF_SCOPE,
}


def test_at_least_30_examples_per_intent_and_language() -> None:
    for lang in ("zh", "en"):
        counts = Counter(e.intent for e in default_examples((lang,)))
        assert set(counts) == DEFAULT_INTENTS
        assert min(counts.values()) >= 30, (lang, counts.most_common()[-3:])


def test_rules_only_name_default_intents() -> None:
    # Besides the default intents, rules may name the few rule-only flow intents.
    assert RuleSet.default().intent_names <= DEFAULT_INTENTS | RULE_ONLY


def test_every_default_intent_has_a_customer_facing_name() -> None:
    raw = resources.files("kefu.nlu").joinpath("data/intents.yaml").read_text("utf-8")
    assert set(yaml.safe_load(raw)) == DEFAULT_INTENTS - {OUT_OF_SCOPE}


def test_shipped_model_is_built_from_the_shipped_examples() -> None:
    # Fails after editing data/examples/*.yaml until `python -m kefu.nlu.build_default` runs.
    path = resources.files("kefu.nlu").joinpath("data/default_model.npz")
    with path.open("rb") as fh:
        model = LinearIntentModel.load(fh)
    assert model.info.examples_sha256 == examples_digest(default_examples())
    assert set(model.labels) == DEFAULT_INTENTS


def test_fresh_install_gets_the_shipped_model_without_training(
    tmp_path: Path, embedder: Embedder
) -> None:
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)
    model = load_default_model(settings, embedder=embedder)
    assert set(model.labels) == DEFAULT_INTENTS
    assert not (tmp_path / "nlu").exists()  # nothing was trained or cached


def test_without_the_shipped_file_the_default_is_trained_once_and_cached(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kefu.nlu.factory as factory
    import kefu.nlu.training as training

    small = tuple(
        Example(text=t, intent=i)
        for i, ts in {
            "greeting": ["你好", "在吗", "hello", "hi there", "有人吗", "哈喽"],
            "invoice": [
                "开发票",
                "我要发票",
                "invoice please",
                "发票怎么开",
                "send a receipt",
                "开票",
            ],
            OUT_OF_SCOPE: [
                "天气如何",
                "讲个笑话",
                "what's the weather",
                "tell me a joke",
                "几点了",
                "写首诗",
            ],
        }.items()
        for t in ts
    )
    monkeypatch.setattr(factory, "DEFAULT_MODEL_RESOURCE", "data/no-such-model.npz")
    monkeypatch.setattr(factory, "default_examples", lambda: small)
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)
    model = load_default_model(settings, embedder=embedder)
    assert set(model.labels) == {"greeting", "invoice", OUT_OF_SCOPE}
    assert (tmp_path / "nlu" / "default-model.npz").exists()

    def no_training(*args: object, **kwargs: object) -> object:
        raise AssertionError("the cached default should have been used")

    monkeypatch.setattr(training, "train", no_training)
    again = load_default_model(settings, embedder=embedder)
    assert again.labels == model.labels
