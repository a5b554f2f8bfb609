"""Settings of the knowledge layer (`Settings.knowledge`, env `KEFU_KNOWLEDGE__...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class EmbeddingSettings(BaseModel):
    """`use`: the embedded multilingual USE (shared with NLU, no server). `openai`: an
    OpenAI-compatible `/v1/embeddings` server (vLLM or TEI with Qwen3-Embedding, bge-m3...)."""

    backend: Literal["use", "openai"] = "use"
    base_url: str = ""
    model: str = ""
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    batch_size: int = Field(default=64, ge=1, le=2048)

    @model_validator(mode="after")
    def _server_needs_url(self) -> EmbeddingSettings:
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("knowledge.embedding: the openai backend needs base_url and model")
        return self


class RerankSettings(BaseModel):
    """`none`, or an HTTP reranker speaking the TEI / Jina / vLLM `/rerank` API."""

    backend: Literal["none", "http"] = "none"
    # Full URL of the rerank route, e.g. http://vllm:8000/v1/rerank or http://tei:80/rerank.
    url: str = ""
    # "cohere": {model, query, documents} -> {results: [{index, relevance_score}]} (vLLM,
    # Jina, Xinference); "tei": {query, texts} -> [{index, score}].
    style: Literal["cohere", "tei"] = "cohere"
    model: str = ""
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    top_n: int = Field(default=10, ge=2, le=100)
    # Weight of the reranker score against the fused score (1: the reranker alone).
    weight: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _http_needs_url(self) -> RerankSettings:
        if self.backend == "http" and not self.url:
            raise ValueError("knowledge.rerank: the http backend needs url")
        return self


class MilvusSettings(BaseModel):
    """A Milvus server (`http://host:19530`), or a milvus-lite file path (tests, demos).
    Empty uri: `<data_dir>/milvus-kb.db` (milvus-lite)."""

    uri: str = ""
    token: SecretStr | None = None
    db_name: str = ""
    collection: str = Field(default="kefu_kb", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class FusionWeights(BaseModel):
    """How passage scores combine into one score per entry (tuned by bench/kb.py).

    FAQ entry: best question variant, centroid of the variants, the answer; document: best
    chunk and the title. The dense part is the weighted mean of those cosines; BM25 (divided
    by the best BM25 score of the question) is added with `sparse_faq` / `sparse_doc`."""

    question: float = Field(default=1.0, ge=0)
    centroid: float = Field(default=1.0, ge=0)
    answer: float = Field(default=0.0, ge=0)
    chunk: float = Field(default=1.0, ge=0)
    title: float = Field(default=0.0, ge=0)
    sparse_faq: float = Field(default=0.1, ge=0)
    sparse_doc: float = Field(default=0.1, ge=0)


class AnswerPolicy(BaseModel):
    """When to answer, to ask which of two FAQ entries is meant, or to say "not in the KB".
    Calibrated on the dev split of bench/kb-data (see bench/results/kb.md)."""

    # Answer the best FAQ entry (document passage) at or above this fused score...
    faq_threshold: float = Field(default=0.75, ge=-1, le=2)
    doc_threshold: float = Field(default=0.43, ge=-1, le=3)
    # ...unless other FAQ entries are closer than this: then they are offered as a choice
    # (when they score at least `clarify_floor`).
    clarify_margin: float = Field(default=0.0, ge=0, le=1)
    clarify_floor: float = Field(default=0.65, ge=-1, le=2)
    # Below the threshold but at or above this, the best FAQ entries are offered ("did you
    # mean ...?"); below it, "not in the knowledge base".
    suggest_threshold: float = Field(default=0.65, ge=-1, le=2)
    # At most this many entries in a choice (a "none of these, human" button is added).
    max_options: int = Field(default=3, ge=2, le=5)
    # Added to every threshold above for questions in that language (the encoder scores
    # English paraphrases lower than Chinese ones).
    lang_offset: dict[str, float] = Field(default_factory=lambda: {"en": -0.04})
    # "reply": say it is not in the KB and offer a human; "none": return None (the dialogue
    # manager's own fallback answers).
    not_found: Literal["reply", "none"] = "reply"


class CacheSettings(BaseModel):
    """Answer cache per tenant and language: exact (normalised text), then semantic (cosine
    with recent answered questions). Emptied for a tenant whenever its KB changes."""

    enabled: bool = True
    max_entries: int = Field(default=5000, ge=0)
    ttl_s: float = Field(default=3600.0, gt=0)
    semantic: bool = True
    semantic_threshold: float = Field(default=0.96, ge=0.5, le=1.0)
    semantic_window: int = Field(default=512, ge=1, le=100_000)


class ImportSettings(BaseModel):
    max_file_mb: float = Field(default=20.0, gt=0)
    max_rows: int = Field(default=200_000, ge=1)
    max_field_chars: int = Field(default=20_000, ge=100)
    max_doc_chars: int = Field(default=2_000_000, ge=1000)
    # An import aborts (writing nothing) when more rows than this fraction are rejected.
    max_rejected_fraction: float = Field(default=0.5, ge=0, le=1)


class KnowledgeSettings(BaseModel):
    enabled: bool = True
    # Store of record (entries, passages, vectors). Unset: `<data_dir>/knowledge.db` (SQLite)
    # when sessions are in SQLite, else the sessions' database (PostgreSQL, tables kefu_kb_*).
    url: str | None = None
    # Search index: in-process (numpy/faiss + bm25s), or Milvus (dense + BM25 in one
    # collection).
    backend: Literal["memory", "milvus"] = "memory"
    milvus: MilvusSettings = Field(default_factory=MilvusSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    weights: FusionWeights = Field(default_factory=FusionWeights)
    policy: AnswerPolicy = Field(default_factory=AnswerPolicy)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    # Load kefu's default FAQ (zh + en, src/kefu/knowledge/data) into tenant `default` when
    # its KB has never been written.
    seed_default_faq: bool = True
    # Passages taken from each of the dense and the BM25 search per question.
    top_k: int = Field(default=20, ge=1, le=500)
    # Document chunking (characters; Chinese characters and Latin letters count one each).
    chunk_chars: int = Field(default=400, ge=50, le=8000)
    chunk_overlap: int = Field(default=80, ge=0, le=4000)
    # How often a server checks whether another process (e.g. `kefu kb import`) changed the
    # KB; changes made through this process are live at once.
    reload_interval_s: float = Field(default=2.0, ge=0)
    # In-process index: exact search below this many passages per partition, IVF above.
    ivf_min_passages: int = Field(default=20_000, ge=1000)
    ivf_nprobe: int = Field(default=24, ge=1, le=4096)
    # Characters of a question or passage the embedded model sees per piece; longer texts
    # are embedded piecewise and averaged.
    embed_piece_chars: int = Field(default=256, ge=16, le=4000)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> KnowledgeSettings:
        if self.chunk_overlap >= self.chunk_chars:
            raise ValueError("knowledge.chunk_overlap must be smaller than chunk_chars")
        return self


def resolved_url(knowledge: KnowledgeSettings, *, data_dir: Path, storage_url: str) -> str:
    """The store of record's database URL (see `KnowledgeSettings.url`)."""
    if knowledge.url:
        return knowledge.url
    if storage_url.startswith("postgresql"):
        return storage_url
    return f"sqlite+aiosqlite:///{(data_dir / 'knowledge.db').as_posix()}"


def resolved_milvus_uri(knowledge: KnowledgeSettings, *, data_dir: Path) -> str:
    return knowledge.milvus.uri or str(data_dir / "milvus-kb.db")
