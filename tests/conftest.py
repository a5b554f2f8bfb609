"""Shared fixtures: settings on a temporary data folder, services, an app client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.container import Services, build_services
from kefu.settings import Settings
from kefu.testing import llm_guard


def pytest_configure(config: pytest.Config) -> None:
    # No test can call a real model: only a running FakeOpenAIServer is reachable.
    llm_guard.install()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"},
        # The knowledge base has its own tests; here it would load the encoder per test.
        knowledge={"enabled": False},
        _env_file=None,
    )


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c
