"""The embedding-server and reranker clients against fake servers (httpx MockTransport)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from kefu.knowledge.embedding import EmbeddingError, OpenAICompatEmbedder, ThreadedEmbedder, pieces
from kefu.knowledge.model import Candidate, Passage
from kefu.knowledge.rerank import HttpReranker, RerankError, rerank_candidates
from kefu.testing.knowledge import FakeReranker


async def test_embeddings_come_back_normalised_in_input_order() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["Authorization"] == "Bearer sk-test"
        data = [
            {"index": i, "embedding": [float(ord(t) - 96), 0.0, 3.0]}
            for i, t in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"data": list(reversed(data))})

    client = httpx.AsyncClient(
        base_url="http://emb/v1",
        transport=httpx.MockTransport(handler),
        headers={"Authorization": "Bearer sk-test"},
    )
    emb = OpenAICompatEmbedder(
        base_url="http://emb/v1", model="qwen3-emb", batch_size=2, client=client
    )
    out = await emb.embed(["a", "b", "c"])
    assert out.shape == (3, 3) and np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert out[0][0] < out[2][0]  # row i is input i
    assert [b["input"] for b in seen] == [["a", "b"], ["c"]]
    assert emb.name == "openai:qwen3-emb"


async def test_a_bad_embedding_server_raises_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0]}]})

    client = httpx.AsyncClient(base_url="http://emb", transport=httpx.MockTransport(handler))
    emb = OpenAICompatEmbedder(base_url="http://emb", model="m", client=client)
    with pytest.raises(EmbeddingError, match="wrong number"):
        await emb.embed(["a", "b"])

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = httpx.AsyncClient(base_url="http://emb", transport=httpx.MockTransport(down))
    emb = OpenAICompatEmbedder(base_url="http://emb", model="m", client=client)
    with pytest.raises(EmbeddingError, match="unreachable"):
        await emb.embed(["a"])


def test_long_texts_are_embedded_in_sentence_pieces() -> None:
    text = "第一句。" * 30 + "Second part here. " * 10
    parts = pieces(text, 50)
    assert all(len(p) <= 50 for p in parts) and "".join(parts).replace(" ", "") == text.replace(
        " ", ""
    )

    class Recorder:
        name = "rec"

        def __init__(self) -> None:
            self.seen: list[str] = []

        def embed(self, texts: list[str]) -> np.ndarray:
            self.seen.extend(texts)
            return np.ones((len(texts), 4), dtype=np.float32)

    rec = Recorder()
    out = ThreadedEmbedder(rec, piece_chars=50).embed_sync(["short", text])  # type: ignore[arg-type]
    assert out.shape == (2, 4) and len(rec.seen) == 1 + len(parts)


def cand(entry_id: str, fused: float) -> Candidate:
    p = Passage(
        key=f"{entry_id}#a",
        entry_id=entry_id,
        kind="faq",
        role="answer",
        lang="zh",
        title=entry_id,
        text=f"text {entry_id}",
    )
    return Candidate(
        entry_id=entry_id, kind="faq", title=entry_id, best=p, dense=fused, sparse=0.0, fused=fused
    )


@pytest.mark.parametrize("style", ["cohere", "tei"])
async def test_http_reranker_speaks_both_apis(style: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        docs = body["documents"] if style == "cohere" else body["texts"]
        assert body["query"] == "q" and len(docs) == 2
        scores = [{"index": 1, "score": 0.9}, {"index": 0, "score": 0.1}]
        if style == "cohere":
            return httpx.Response(
                200,
                json={
                    "results": [
                        {"index": s["index"], "relevance_score": s["score"]} for s in scores
                    ]
                },
            )
        return httpx.Response(200, json=scores)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    rr = HttpReranker(url="http://rr/rerank", style=style, client=client)  # type: ignore[arg-type]
    assert await rr.rerank("q", [cand("a", 0.8), cand("b", 0.7)]) == [0.1, 0.9]
    out = await rerank_candidates(rr, "q", [cand("a", 0.8), cand("b", 0.7)], top_n=2, weight=0.5)
    assert [c.entry_id for c in out] == ["b", "a"]


async def test_a_failing_reranker_leaves_the_order_alone() -> None:
    cands = [cand("a", 0.8), cand("b", 0.7), cand("c", 0.1)]
    out = await rerank_candidates(FakeReranker(fail=True), "q", cands, top_n=2, weight=1.0)
    assert out == cands
    fake = FakeReranker(prefer=["b"])
    out = await rerank_candidates(fake, "q", cands, top_n=2, weight=1.0)
    assert [c.entry_id for c in out] == ["b", "a", "c"] and fake.seen == [["a", "b"]]

    def boom(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    rr = HttpReranker(
        url="http://rr", client=httpx.AsyncClient(transport=httpx.MockTransport(boom))
    )
    with pytest.raises(RerankError):
        await rr.rerank("q", cands)
