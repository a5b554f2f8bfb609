"""ShopSettings refuse incomplete connector settings and read from the environment."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from kefu.commerce.settings import ShopSettings


def test_defaults_use_the_built_in_store() -> None:
    s = ShopSettings()
    assert (s.backend, s.url, s.logistics, s.demo_if_empty) == ("sql", None, "store", True)
    # a read's worst case (attempts x timeout + backoff) leaves room for a write in 5 s
    h = s.http
    assert h.read_attempts * h.timeout_s + h.backoff_s + h.timeout_s < 5.0


@pytest.mark.parametrize(
    "bad",
    [{"backend": "http"}, {"logistics": "kuaidi100", "kuaidi100": {"customer": "c"}}],
)
def test_incomplete_connectors_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ShopSettings.model_validate(bad)


def test_nested_in_a_settings_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Root(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="KEFU_", env_nested_delimiter="__")
        shop: ShopSettings = Field(default_factory=ShopSettings)

    monkeypatch.setenv("KEFU_SHOP__BACKEND", "http")
    monkeypatch.setenv("KEFU_SHOP__HTTP__BASE_URL", "https://shop.example.cn/kefu")
    monkeypatch.setenv("KEFU_SHOP__HTTP__API_KEY", "k")
    root = Root()
    assert root.shop.backend == "http" and root.shop.http.api_key is not None
    assert isinstance(root.shop, BaseModel)
