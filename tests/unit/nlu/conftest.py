"""Shared NLU fixtures. The sentence encoder loads once per test session (~1.5 s)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from kefu.nlu.base import Embedder
from kefu.nlu.embedder import shared_use_embedder
from kefu.nlu.entities import RegexEntityExtractor
from kefu.nlu.factory import build_stage_one
from kefu.nlu.pipeline import StageOneNlu
from kefu.settings import Settings

TODAY = date(2026, 11, 25)  # a Wednesday


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    emb = shared_use_embedder()
    emb.warm_up()
    yield emb


@pytest.fixture(scope="session")
def nlu_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("nlu-data")
    return Settings(env="test", data_dir=data, _env_file=None)


@pytest.fixture(scope="session")
def nlu(nlu_settings: Settings, embedder: Embedder) -> StageOneNlu:
    """The default recogniser as a fresh install runs it (shipped model, shipped rules)."""
    return build_stage_one(nlu_settings, embedder=embedder)


@pytest.fixture
def extractor() -> RegexEntityExtractor:
    return RegexEntityExtractor(today=lambda: TODAY)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
