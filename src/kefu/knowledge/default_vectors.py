"""Vectors of kefu's default FAQ, shipped in the package so a fresh install seeds its KB
without embedding (and tests start fast). Rebuild after editing the default FAQ:

    .venv/bin/python -m kefu.knowledge.default_vectors

A stale file is harmless: texts it does not hold are embedded at seeding time, and it is
ignored entirely when the configured embedder is another model."""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.embedding import PrecomputedEmbedder, ThreadedEmbedder
from kefu.knowledge.indexing import ChunkPolicy, passages_of
from kefu.knowledge.service import default_faq
from kefu.nlu.base import Vectors

log = logging.getLogger(__name__)

RESOURCE = "data/faq-vectors.npz"


def load_table(embedder_name: str) -> dict[str, Vectors]:
    try:
        with resources.files("kefu.knowledge").joinpath(RESOURCE).open("rb") as fh:
            data = np.load(fh, allow_pickle=False)
            meta = json.loads(str(data["meta"]))
            texts = json.loads(str(data["texts"]))
            vectors = data["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        log.info("knowledge.default_vectors_unavailable error=%s", exc)
        return {}
    if meta.get("embedder") != embedder_name or len(texts) != len(vectors):
        return {}
    return dict(zip(texts, vectors, strict=True))


def with_default_vectors(embedder: AsyncEmbedder) -> AsyncEmbedder:
    table = load_table(embedder.name)
    return PrecomputedEmbedder(embedder, table) if table else embedder


async def build(path: Path) -> int:
    from kefu.nlu.embedder import shared_use_embedder

    embedder = ThreadedEmbedder(shared_use_embedder(1, 256))
    texts = sorted(
        {
            p.text
            for e in default_faq()
            for p in passages_of(e, ChunkPolicy())
            if p.role != "centroid"
        }
    )
    vectors = await embedder.embed(texts)
    np.savez_compressed(
        path,
        meta=np.array(json.dumps({"embedder": embedder.name, "dim": int(vectors.shape[1])})),
        texts=np.array(json.dumps(texts, ensure_ascii=False)),
        vectors=vectors.astype(np.float16),
    )
    return len(texts)


if __name__ == "__main__":
    target = Path(str(resources.files("kefu.knowledge").joinpath(RESOURCE)))
    count = asyncio.run(build(target))
    print(f"wrote {count} vectors to {target}")
