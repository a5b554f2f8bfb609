"""The knowledge admin API under /v1/admin/kb: add, update, delete, list, search, import.

Writes need the `admin` role; reads also admit `agent` and `analyst`. Every route works on
the caller's own tenant (the tenant of the admin key). Changes are live for the next
question in this process, and within `knowledge.reload_interval_s` in other processes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from kefu.api.deps import ServicesDep, Staff, require_role
from kefu.dialogue.manager import ChatError
from kefu.knowledge.factory import Knowledge
from kefu.knowledge.model import Entry, FaqEntry
from kefu.knowledge.parsing import ImportAborted, KindOption, parse_bytes, row_to_entry
from kefu.knowledge.policy import decide
from kefu.knowledge.protocol import (
    DocIn,
    EntryOut,
    EntryPage,
    FaqIn,
    ImportOut,
    SearchOut,
    WriteOut,
    hit_of,
)
from kefu.nlu.lang import detect_lang

router = APIRouter(prefix="/v1/admin/kb", tags=["knowledge"])

Admin = Annotated[Staff, Depends(require_role("admin"))]
Reader = Annotated[Staff, Depends(require_role("admin", "agent", "analyst"))]


def get_knowledge(services: ServicesDep) -> Knowledge:
    k = services.knowledge
    if not isinstance(k, Knowledge):
        raise ChatError("kb_unavailable", "the knowledge base is not enabled", 503)
    return k


KnowledgeDep = Annotated[Knowledge, Depends(get_knowledge)]


def _entry(body: FaqIn | DocIn, k: Knowledge) -> Entry:
    got = row_to_entry(
        body.model_dump(exclude_none=True),
        kind="faq" if isinstance(body, FaqIn) else "doc",
        lang=None,
        limits=k.kb.settings.imports,
    )
    if isinstance(got, str):
        raise ChatError("invalid_request", got, 422)
    return got


async def _write(k: Knowledge, tenant: str, entry: Entry) -> WriteOut:
    status = await k.kb.upsert(tenant, entry)
    stored = await k.kb.get(tenant, entry.id)
    assert stored is not None
    return WriteOut(status=status, entry=EntryOut.of(stored))


@router.get("/entries", response_model=EntryPage)
async def list_entries(
    staff: Reader,
    k: KnowledgeDep,
    kind: Literal["faq", "doc"] | None = None,
    lang: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EntryPage:
    """FAQ entries and documents of the caller's shop, by id."""
    entries, total = await k.kb.list_entries(
        staff.tenant, kind=kind, lang=lang, offset=offset, limit=limit
    )
    return EntryPage(
        total=total, offset=offset, limit=limit, entries=[EntryOut.of(e) for e in entries]
    )


@router.get("/entries/{entry_id}", response_model=EntryOut)
async def get_entry(entry_id: str, staff: Reader, k: KnowledgeDep) -> EntryOut:
    stored = await k.kb.get(staff.tenant, entry_id)
    if stored is None:
        raise ChatError("not_found", f"no entry {entry_id!r}", 404)
    return EntryOut.of(stored)


@router.post("/faq", response_model=WriteOut, status_code=201)
async def add_faq(body: FaqIn, staff: Admin, k: KnowledgeDep) -> WriteOut:
    """Add an FAQ entry, or replace the entry with the same id."""
    return await _write(k, staff.tenant, _entry(body, k))


@router.post("/documents", response_model=WriteOut, status_code=201)
async def add_document(body: DocIn, staff: Admin, k: KnowledgeDep) -> WriteOut:
    """Add a document (chunked and indexed), or replace the one with the same id."""
    return await _write(k, staff.tenant, _entry(body, k))


@router.put("/entries/{entry_id}", response_model=WriteOut)
async def update_entry(
    entry_id: str, body: FaqIn | DocIn, staff: Admin, k: KnowledgeDep
) -> WriteOut:
    """Replace an existing entry (FAQ or document); the body's id must match the path."""
    if body.id != entry_id:
        raise ChatError("invalid_request", "the body's id must match the path", 422)
    old = await k.kb.get(staff.tenant, entry_id)
    if old is None:
        raise ChatError("not_found", f"no entry {entry_id!r}", 404)
    entry = _entry(body, k)
    if isinstance(old.entry, FaqEntry) != isinstance(entry, FaqEntry):
        raise ChatError("invalid_request", "an entry keeps its kind (faq or doc)", 422)
    return await _write(k, staff.tenant, entry)


@router.delete("/entries/{entry_id}", status_code=204)
async def delete_entry(entry_id: str, staff: Admin, k: KnowledgeDep) -> Response:
    if not await k.kb.delete(staff.tenant, [entry_id]):
        raise ChatError("not_found", f"no entry {entry_id!r}", 404)
    return Response(status_code=204)


@router.get("/search", response_model=SearchOut)
async def search(
    staff: Reader,
    k: KnowledgeDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    lang: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchOut:
    """Ranked entries for a question with their dense, BM25 and fused scores, and what the
    bot would do with it (answer, ask to choose, or say it is not in the KB)."""
    lang = lang or detect_lang(q) or "zh"
    ranked = await k.rank(q, lang=lang, tenant=staff.tenant)
    decision = decide(ranked, k.answerer.policy, lang=lang)
    return SearchOut(
        query=q, lang=lang, decision=decision.outcome, hits=[hit_of(c) for c in ranked[:limit]]
    )


@router.post("/import", response_model=ImportOut)
async def import_file(
    request: Request,
    staff: Admin,
    k: KnowledgeDep,
    filename: Annotated[str, Query(min_length=3, max_length=200)],
    kind: KindOption = "auto",
    prune: bool = False,
) -> ImportOut:
    """Import a file sent as the raw request body; `filename` gives its format (.jsonl,
    .csv, .yaml, .json, .md, .txt). Bad rows are reported with line numbers; a refused
    file (too big, binary, mostly invalid) imports nothing (422)."""
    limit = int(k.kb.settings.imports.max_file_mb * 1024 * 1024)
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise ChatError("too_large", f"the file is larger than {limit} bytes", 413)
    try:
        parsed = parse_bytes(bytes(body), name=filename, kind=kind, limits=k.kb.settings.imports)
    except ImportAborted as exc:
        raise ChatError("import_refused", str(exc), 422) from exc
    entries = [r.entry for r in parsed.rows]
    summary = await k.kb.import_entries(staff.tenant, entries, prune=prune)
    return ImportOut.of(summary, parsed.rejected)
