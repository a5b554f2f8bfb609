"""The one settings root. Read from the environment (KEFU_ prefix, __ nesting) and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kefu.audit.settings import AuditSettings
from kefu.commerce.settings import ShopSettings
from kefu.knowledge.settings import KnowledgeSettings
from kefu.llm.settings import LlmSettings
from kefu.nlu.settings import NluSettings
from kefu.safety.settings import SafetySettings

PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "dev", ""})


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Extra static assets (the web chat page ships inside the package).
    cors_origins: list[str] = Field(default_factory=list)


class StorageSettings(BaseModel):
    """Where sessions (the event log) live. SQLite file by default, PostgreSQL in production."""

    url: str = "sqlite+aiosqlite:///./data/kefu.db"
    # Commit batching window: turns that finish within this many milliseconds share one commit.
    # 0 means "whatever is queued when the writer wakes up" (still batches under load).
    group_commit_ms: float = Field(default=0.0, ge=0.0, le=50.0)
    # PostgreSQL schema (search path) for kefu's tables; None: the server's default.
    schema_name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=200)


class RedisSettings(BaseModel):
    """Redis makes session locks work across server processes. Unset: in-process locks."""

    url: str | None = None
    lock_timeout_s: float = Field(default=30.0, gt=0)
    socket_timeout_s: float = Field(default=2.0, gt=0)


class SessionSettings(BaseModel):
    idle_timeout_s: int = Field(default=30 * 60, ge=1)
    # How many past messages the LLM sees; the store keeps everything.
    llm_history_turns: int = Field(default=12, ge=1, le=200)
    # Cached trackers in process (one per active session).
    cache_size: int = Field(default=20_000, ge=0)


class LimitSettings(BaseModel):
    max_text_chars: int = Field(default=2000, ge=1)
    max_frame_bytes: int = Field(default=16_384, ge=256)
    # Token buckets: sustained rate per second and burst size.
    per_connection_rate: float = Field(default=5.0, gt=0)
    per_connection_burst: int = Field(default=20, ge=1)
    per_session_rate: float = Field(default=5.0, gt=0)
    per_session_burst: int = Field(default=20, ge=1)


class TenantKey(BaseModel):
    key: SecretStr
    tenant: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


Role = Literal["admin", "agent", "analyst", "auditor"]


class AdminKey(BaseModel):
    """A staff API key for the admin API: one role, one tenant (shop)."""

    key: SecretStr
    role: Role
    tenant: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = ""


class AdminSettings(BaseModel):
    keys: list[AdminKey] = Field(default_factory=list)


class HookSettings(BaseModel):
    """Incoming webhooks. Each is off until its secret is set."""

    # HMAC-SHA256 key of POST /v1/hooks/logistics (header X-Kefu-Signature: sha256=<hex>).
    logistics_secret: SecretStr | None = None


class ChannelSettings(BaseModel):
    """Channel keys map a caller to exactly one tenant (shop).

    With no keys configured every caller is tenant `default` (single-shop deployment).
    With keys, a request must carry one in the `X-Kefu-Key` header (or `key` query
    parameter on the WebSocket).
    """

    keys: list[TenantKey] = Field(default_factory=list)
    # Whether a channel-supplied user_id is trusted as an authenticated customer.
    trust_user_id: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("./data")
    default_lang: Literal["zh", "en"] = "zh"
    log_level: str = "INFO"
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    hooks: HookSettings = Field(default_factory=HookSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    # The LLM (Qwen3-8B on vLLM, or any OpenAI-compatible server). Unset base_url: none.
    llm: LlmSettings = Field(default_factory=LlmSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    # Time limit for one back-end action a flow calls (lookup, write ...).
    action_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # Extra flow files or folders; the built-in flows always load first.
    flow_paths: list[Path] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env == "prod":
            secret = self.hooks.logistics_secret
            if secret is not None and secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("hooks.logistics_secret is a placeholder; set a real one")
            keys: list[TenantKey | AdminKey] = [*self.channels.keys, *self.admin.keys]
            for k in keys:
                if k.key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"a key for tenant {k.tenant!r} is a placeholder; set a real one"
                    )
        return self

    def resolved_storage_url(self) -> str:
        """The storage URL with a relative SQLite path placed under `data_dir`."""
        url = self.storage.url
        prefix = "sqlite+aiosqlite:///"
        if url == StorageSettings().url:
            return f"{prefix}{(self.data_dir / 'kefu.db').as_posix()}"
        return url
