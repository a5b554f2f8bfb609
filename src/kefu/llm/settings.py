"""Settings of the LLM layer (`Settings.llm`, env `KEFU_LLM__...`).

Unset `base_url`: no model; kefu answers with stage 1, the flows and extractive answers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class EndpointSettings(BaseModel):
    """One OpenAI-compatible endpoint (vLLM, SGLang, Ollama, a cloud API)."""

    base_url: str | None = None  # e.g. http://vllm:8000/v1
    model: str = "Qwen/Qwen3-8B"
    api_key: SecretStr | None = None


class SamplingSettings(BaseModel):
    """Qwen3's recommended non-thinking sampling (its model card): T 0.7, top-p 0.8,
    top-k 20, min-p 0. Commands use a low temperature: they are decisions, not prose."""

    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.8, gt=0, le=1)
    top_k: int = Field(default=20, ge=-1)
    min_p: float = Field(default=0.0, ge=0, le=1)
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    command_temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=8192)
    command_max_tokens: int = Field(default=256, ge=1, le=4096)


class BreakerSettings(BaseModel):
    """Open after `error_rate` of the calls in the last `window_s` failed (at least
    `min_calls` calls); stay open `open_s`, then let `probe_calls` through to test."""

    error_rate: float = Field(default=0.03, gt=0, le=1)
    window_s: float = Field(default=60.0, gt=0)
    # A rate over a handful of calls means little: at 20 calls one failure (5 %) opens it;
    # raise this for a busy shop where single failures should be tolerated.
    min_calls: int = Field(default=20, ge=1)
    open_s: float = Field(default=15.0, gt=0)
    probe_calls: int = Field(default=1, ge=1)


class LlmSettings(EndpointSettings):
    # A second endpoint (another server or a smaller model) tried when the first fails.
    fallback: EndpointSettings | None = None
    timeout_s: float = Field(default=8.0, gt=0, le=300)
    connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    # Time allowed until the first streamed piece; the whole-call limit still applies.
    first_token_timeout_s: float = Field(default=3.0, gt=0, le=120)
    # Qwen3 thinks before answering unless told not to; customer turns need speed.
    enable_thinking: bool = False
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    # Calls in flight at once, and calls allowed to wait for a slot; beyond that a turn
    # takes the path without a model at once instead of piling up.
    max_concurrency: int = Field(default=64, ge=1, le=10_000)
    max_queue: int = Field(default=64, ge=0, le=100_000)
    queue_timeout_s: float = Field(default=1.0, ge=0, le=60)
    # HTTP connections to the model server; keep it at least max_concurrency.
    max_connections: int = Field(default=128, ge=1, le=10_000)
    # Idle connections kept open for reuse (more cost CPU on every request; see the client).
    keepalive_connections: int = Field(default=16, ge=0, le=10_000)
    # What the model is used for (each can be turned off on its own).
    stage2: bool = True  # NLU stage 2: commands for what stage 1 cannot settle
    answers: bool = True  # grounded answers from the knowledge base, streamed
    # Time a customer turn waits for a stage-2 decision before taking the stage-1 path.
    stage2_timeout_s: float = Field(default=2.5, gt=0, le=60)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)
