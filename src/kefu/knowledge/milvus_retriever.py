"""The Milvus retriever: dense vectors and BM25 in one collection (Milvus server, or
milvus-lite from a local file in tests and demos).

BM25 runs on Milvus's side over a `tokens` field with Milvus's jieba analyzer; kefu writes
its own tokens there (jieba with kefu's shop dictionary, ids kept whole), so both backends
match the same terms. Queries search the tenant's language first (every language when that
one has nothing), then fetch every passage of the candidate entries to score them fully.
pymilvus is synchronous: calls run in worker threads, each with a timeout."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from kefu.knowledge.model import (
    ChangeSet,
    IndexedPassage,
    Passage,
    PassageScore,
    SearchQuery,
    SearchResult,
)

T = TypeVar("T")
_SAFE = re.compile(r"^[^\s\"'\\\x00-\x1f\x7f]{1,160}$")
META = ["pk", "entry_id", "key", "kind", "role", "lang", "title", "text"]
TEXT_MAX = 16_000  # characters (VARCHAR limits are bytes: 3 per Chinese character)


class MilvusError(RuntimeError):
    pass


def _lit(value: str) -> str:
    """A string literal for a Milvus filter; ids are checked, never escaped."""
    if not _SAFE.match(value):
        raise MilvusError(f"unsafe value in a Milvus filter: {value!r}")
    return f'"{value}"'


def _pymilvus() -> Any:
    """pymilvus, imported on first use (it takes about a second to import)."""
    import pymilvus  # type: ignore[import-untyped]

    return pymilvus


def _row(tenant: str, it: IndexedPassage) -> dict[str, Any]:
    p = it.passage
    return {
        "pk": f"{tenant}/{p.key}",
        "tenant": tenant,
        "entry_id": p.entry_id,
        "key": p.key,
        "kind": p.kind,
        "role": p.role,
        "lang": p.lang,
        "title": p.title[:1000],
        "text": p.text[:TEXT_MAX],
        "tokens": " ".join(it.tokens)[:TEXT_MAX] or " ",
        "dense": np.asarray(it.vector, dtype=np.float32).tolist(),
    }


def _passage(e: dict[str, Any]) -> Passage:
    return Passage(
        key=e["key"],
        entry_id=e["entry_id"],
        kind=e["kind"],
        role=e["role"],
        lang=e["lang"],
        title=e["title"],
        text=e["text"],
    )


class MilvusRetriever:
    def __init__(
        self,
        *,
        uri: str,
        token: str = "",
        db_name: str = "",
        collection: str = "kefu_kb",
        timeout_s: float = 10.0,
    ) -> None:
        self._uri = uri
        self._token = token
        self._db_name = db_name
        self._name = collection
        self._timeout = timeout_s
        self._client: Any = None
        self._dim: int | None = None
        self._lock = asyncio.Lock()

    @property
    def persistent(self) -> bool:
        return True

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(fn, *args, **kwargs), timeout=self._timeout + 1
            )
        except TimeoutError as exc:
            raise MilvusError(f"Milvus did not answer within {self._timeout:g} s") from exc
        except MilvusError:
            raise
        except Exception as exc:  # pymilvus raises its own exception types
            raise MilvusError(f"Milvus: {exc}") from exc

    async def start(self) -> None:
        def connect() -> Any:
            kwargs: dict[str, Any] = {"uri": self._uri, "timeout": self._timeout}
            if self._token:
                kwargs["token"] = self._token
            if self._db_name:
                kwargs["db_name"] = self._db_name
            return _pymilvus().MilvusClient(**kwargs)

        self._client = await self._call(connect)
        if await self._call(self._client.has_collection, self._name):
            desc = await self._call(self._client.describe_collection, self._name)
            dense = [f for f in desc["fields"] if f["name"] == "dense"]
            self._dim = int(dense[0]["params"]["dim"]) if dense else None
            await self._call(self._client.load_collection, self._name)

    async def close(self) -> None:
        if self._client is not None:
            await self._call(self._client.close)
            self._client = None

    def _schema(self, dim: int) -> tuple[Any, Any]:
        pm = _pymilvus()
        DataType, Function, FunctionType = pm.DataType, pm.Function, pm.FunctionType
        s = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=400)
        for name, size in (("tenant", 64), ("entry_id", 128), ("key", 160), ("kind", 8)):
            s.add_field(name, DataType.VARCHAR, max_length=size)
        s.add_field("role", DataType.VARCHAR, max_length=16)
        s.add_field("lang", DataType.VARCHAR, max_length=8)
        s.add_field("title", DataType.VARCHAR, max_length=4000)
        s.add_field("text", DataType.VARCHAR, max_length=65535)
        s.add_field(
            "tokens",
            DataType.VARCHAR,
            max_length=65535,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "jieba"},
        )
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        s.add_function(
            Function(
                name="kefu_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["tokens"],
                output_field_names=["sparse"],
            )
        )
        idx = self._client.prepare_index_params()
        idx.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        idx.add_index(field_name="dense", index_type="AUTOINDEX", metric_type="IP")
        idx.add_index(field_name="tenant", index_type="INVERTED")
        idx.add_index(field_name="entry_id", index_type="INVERTED")
        return s, idx

    async def _ensure_collection(self, dim: int) -> None:
        if self._client is None:
            raise MilvusError("the Milvus retriever is not started")
        if self._dim is not None:
            if self._dim != dim:
                raise MilvusError(
                    f"collection {self._name} holds {self._dim}-d vectors, not {dim}-d: "
                    "drop it (or use another collection) after changing the embedder"
                )
            return
        schema, idx = self._schema(dim)
        await self._call(
            self._client.create_collection, self._name, schema=schema, index_params=idx
        )
        await self._call(self._client.load_collection, self._name)
        self._dim = dim

    async def _delete_entries(self, tenant: str, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 200):
            part = ", ".join(_lit(i) for i in ids[start : start + 200])
            flt = f"tenant == {_lit(tenant)} and entry_id in [{part}]"
            await self._call(self._client.delete, self._name, filter=flt)

    async def _insert(self, tenant: str, passages: Sequence[IndexedPassage]) -> None:
        if not passages:
            return
        await self._ensure_collection(len(passages[0].vector))
        rows = [_row(tenant, p) for p in passages]
        for start in range(0, len(rows), 500):
            await self._call(
                self._client.upsert, self._name, rows[start : start + 500], timeout=self._timeout
            )

    async def load(self, tenant: str, passages: Sequence[IndexedPassage]) -> None:
        async with self._lock:
            if self._dim is not None:
                flt = f"tenant == {_lit(tenant)}"
                await self._call(self._client.delete, self._name, filter=flt)
            await self._insert(tenant, passages)

    async def apply(self, tenant: str, changes: ChangeSet) -> None:
        if changes.empty:
            return
        async with self._lock:
            ids = sorted({*changes.deletes, *(c.entry.id for c in changes.upserts)})
            if self._dim is not None:
                await self._delete_entries(tenant, ids)
            await self._insert(tenant, [p for c in changes.upserts for p in c.passages])

    async def search(self, tenant: str, query: SearchQuery) -> SearchResult:
        if self._dim is None or self._client is None:
            return SearchResult(passages=())
        base = f"tenant == {_lit(tenant)}"
        lang_filter = f"{base} and lang == {_lit(query.lang)}" if query.lang else base
        dense, sparse = await self._both(query, lang_filter)
        lang = query.lang
        if not dense and not sparse and query.lang:
            dense, sparse = await self._both(query, base)
            lang = ""
        sparse_by_key = {h["entity"]["key"]: abs(float(h["distance"])) for h in sparse}
        entries = dict.fromkeys(h["entity"]["entry_id"] for h in (*dense, *sparse))
        passages = await self._expand(tenant, list(entries), query, sparse_by_key)
        top = max(sparse_by_key.values(), default=0.0)
        return SearchResult(passages=tuple(passages), sparse_top=top, lang=lang)

    async def _both(self, query: SearchQuery, flt: str) -> tuple[list[Any], list[Any]]:
        common = {"limit": query.k, "filter": flt, "output_fields": META}
        dense_call = self._call(
            self._client.search,
            self._name,
            data=[np.asarray(query.vector, dtype=np.float32).tolist()],
            anns_field="dense",
            search_params={"metric_type": "IP"},
            timeout=self._timeout,
            **common,
        )
        text = " ".join(query.tokens)
        if not text:
            return list((await dense_call)[0]), []
        sparse_call = self._call(
            self._client.search,
            self._name,
            data=[text],
            anns_field="sparse",
            search_params={"metric_type": "BM25"},
            timeout=self._timeout,
            **common,
        )
        d, s = await asyncio.gather(dense_call, sparse_call)
        return list(d[0]), list(s[0])

    async def _expand(
        self, tenant: str, entries: list[str], query: SearchQuery, sparse: dict[str, float]
    ) -> list[PassageScore]:
        out: list[PassageScore] = []
        q = np.asarray(query.vector, dtype=np.float32)
        for start in range(0, len(entries), 100):
            part = ", ".join(_lit(e) for e in entries[start : start + 100])
            rows = await self._call(
                self._client.query,
                self._name,
                filter=f"tenant == {_lit(tenant)} and entry_id in [{part}]",
                output_fields=[*META, "dense"],
                timeout=self._timeout,
            )
            for e in rows:
                vec = np.asarray(e["dense"], dtype=np.float32)
                out.append(
                    PassageScore(
                        passage=_passage(e),
                        dense=float(vec @ q),
                        sparse=sparse.get(e["key"], 0.0),
                    )
                )
        return out

    async def count(self, tenant: str) -> int:
        if self._dim is None or self._client is None:
            return 0
        rows = await self._call(
            self._client.query,
            self._name,
            filter=f"tenant == {_lit(tenant)}",
            output_fields=["count(*)"],
            timeout=self._timeout,
        )
        return int(rows[0]["count(*)"]) if rows else 0
