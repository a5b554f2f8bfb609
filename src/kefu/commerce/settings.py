"""Settings of the shop back end (`Settings.shop`, env `KEFU_SHOP__...`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class ShopHttpSettings(BaseModel):
    """A shop's own back end serving docs/connector-api.yaml."""

    base_url: str = ""
    api_key: SecretStr | None = None  # sent as `Authorization: Bearer ...`
    # An action (read + write) must finish within Settings.action_timeout_s (5 s):
    # worst read = attempts x timeout + backoffs = 3.1 s, then a write <= 1.5 s.
    timeout_s: float = Field(default=1.5, gt=0, le=60)
    read_attempts: int = Field(default=2, ge=1, le=10)  # reads only; writes are sent once
    backoff_s: float = Field(default=0.1, ge=0, le=10)


class Kuaidi100Settings(BaseModel):
    """A Kuaidi100-style courier aggregator (快递100 实时查询)."""

    customer: str = ""
    key: SecretStr = SecretStr("")
    base_url: str = "https://poll.kuaidi100.com"
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    attempts: int = Field(default=2, ge=1, le=5)


class ShopSettings(BaseModel):
    """Where orders, customers, products and tickets come from.

    `sql`: kefu's built-in shop store (tables kefu_shop_*), in the database of `url`, or in
    the sessions' database when `url` is unset. `http`: the shop's own back end. `memory`:
    the demo shop in memory (tests, throw-away demos).
    """

    backend: Literal["sql", "http", "memory"] = "sql"
    url: str | None = None
    http: ShopHttpSettings = Field(default_factory=ShopHttpSettings)
    # Parcel tracking: the store's own events, or an aggregator with the store as fallback.
    logistics: Literal["store", "kuaidi100"] = "store"
    kuaidi100: Kuaidi100Settings = Field(default_factory=Kuaidi100Settings)
    # Outside env=prod: load the demo shop into tenant `default` at start when it has no
    # orders (a fresh laptop shows the flows at once). Never in production.
    demo_if_empty: bool = True

    @model_validator(mode="after")
    def _complete(self) -> ShopSettings:
        if self.backend == "http" and not self.http.base_url:
            raise ValueError("shop.backend=http needs shop.http.base_url")
        if self.logistics == "kuaidi100" and not (
            self.kuaidi100.customer and self.kuaidi100.key.get_secret_value()
        ):
            raise ValueError("shop.logistics=kuaidi100 needs kuaidi100.customer and .key")
        return self
