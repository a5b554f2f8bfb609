"""Building stage-1 NLU from Settings (called by the composition root).

The default model is the artefact shipped in the package (`kefu/nlu/data/default_model.npz`,
built from kefu's own examples by `python -m kefu.nlu.build_default`). If it is missing or
does not match the shipped examples, the default model is trained at first start from those
examples (15-80 s on two shared cores, once) and cached under `<data_dir>/nlu/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from kefu.nlu.base import Embedder, IntentClassifier, IntentRecognizer
from kefu.nlu.classifier import ReloadingClassifier
from kefu.nlu.embedder import shared_use_embedder
from kefu.nlu.entities import RegexEntityExtractor
from kefu.nlu.examples import default_examples, examples_digest
from kefu.nlu.model import LinearIntentModel, ModelFileError
from kefu.nlu.pipeline import Stage2Policy, StageOneNlu
from kefu.nlu.rules import RuleSet
from kefu.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL_RESOURCE = "data/default_model.npz"
CACHED_DEFAULT = "default-model.npz"


def model_dir(settings: Settings) -> Path:
    return settings.data_dir / "nlu"


def model_path(settings: Settings) -> Path:
    """Where `kefu nlu train` writes the shop's model and the server looks for it."""
    return settings.nlu.model_path or model_dir(settings) / "model.npz"


def shop_today(timezone: str) -> Callable[[], date]:
    zone = ZoneInfo(timezone)

    def today() -> date:
        return datetime.now(zone).date()

    return today


def default_embedder(settings: Settings) -> Embedder:
    return shared_use_embedder(settings.nlu.embed_threads, settings.nlu.embed_max_chars)


def build_rules(settings: Settings) -> RuleSet:
    if settings.nlu.rules_path is not None:
        return RuleSet.from_path(settings.nlu.rules_path)
    return RuleSet.default()


def build_classifier(settings: Settings, *, embedder: Embedder) -> IntentClassifier:
    return ReloadingClassifier(
        model_path(settings),
        embedder=embedder,
        fallback=lambda: load_default_model(settings, embedder=embedder),
        check_every_s=settings.nlu.reload_interval_s,
    )


def build_nlu(settings: Settings, *, embedder: Embedder | None = None) -> IntentRecognizer:
    """Stage-1 NLU as configured: rules, entities, and (unless disabled) the classifier.

    The sentence encoder loads on the first message the rules do not settle (~1.5 s), or
    earlier through `warm_up(recognizer)`."""
    return build_stage_one(settings, embedder=embedder)


def build_stage_one(settings: Settings, *, embedder: Embedder | None = None) -> StageOneNlu:
    """`build_nlu` with its concrete type (for `parse_many` in evaluation)."""
    nlu = settings.nlu
    classifier: IntentClassifier | None = None
    if nlu.classifier:
        classifier = build_classifier(settings, embedder=embedder or default_embedder(settings))
    return StageOneNlu(
        rules=build_rules(settings),
        extractor=RegexEntityExtractor(
            order_patterns=nlu.order_patterns, today=shop_today(nlu.timezone)
        ),
        classifier=classifier,
        policy=Stage2Policy(confident=nlu.stage2_confident, long_message=nlu.long_message),
    )


def warm_up(recognizer: IntentRecognizer) -> None:
    """Load the encoder now (e.g. from `Services.start` via `asyncio.to_thread`)."""
    recognizer.parse("warm up", lang="en")
    if isinstance(recognizer, StageOneNlu) and recognizer.classifier is not None:
        recognizer.classifier.classify("warm up", lang="en")


def load_default_model(settings: Settings, *, embedder: Embedder) -> LinearIntentModel:
    """The shipped model; else a cached one; else train it from the shipped examples."""
    digest = examples_digest(default_examples())
    shipped = resources.files("kefu.nlu").joinpath(DEFAULT_MODEL_RESOURCE)
    try:
        with shipped.open("rb") as fh:
            model = LinearIntentModel.load(fh)
        if _usable(model, digest, embedder):
            return model
        log.warning("nlu.default_model_stale (examples or embedder changed): retraining")
    except (OSError, ModelFileError) as exc:
        log.warning("nlu.default_model_missing error=%s: training it", exc)
    cached = model_dir(settings) / CACHED_DEFAULT
    if cached.exists():
        try:
            model = LinearIntentModel.load(cached)
            if _usable(model, digest, embedder):
                return model
        except ModelFileError as exc:
            log.warning("nlu.default_cache_unusable error=%s", exc)
    from kefu.nlu.training import train  # scikit-learn loads only when training

    report = train(default_examples(), embedder=embedder, source="kefu default examples")
    log.info("nlu.default_model_trained seconds=%.1f", report.seconds)
    try:
        report.model.save(cached)
    except OSError as exc:
        log.warning("nlu.default_cache_not_written error=%s", exc)
    return report.model


def _usable(model: LinearIntentModel, digest: str, embedder: Embedder) -> bool:
    return model.info.examples_sha256 == digest and model.info.embedder == embedder.name
