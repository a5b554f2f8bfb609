"""The audit admin API under /v1/admin/audit: list records, verify the chain, export JSONL.

Every route needs the `auditor` or `admin` role and works on the tenant of the caller's
admin key. What it needs from `Services`: `services.settings` (the admin keys, read by
`require_role`) and `services.audit`, a started `kefu.audit.service.AuditLog` (503
`audit_unavailable` without one). Mount with `app.include_router(router)`. An export is
itself recorded as an `admin.action` record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kefu.api.deps import ServicesDep, Staff, require_role
from kefu.audit.model import AuditFilter, AuditRecord, VerifyResult, canonical_json, format_ts
from kefu.audit.service import AuditLog, AuditWriteError
from kefu.dialogue.manager import ChatError
from kefu.domain.types import JsonValue

router = APIRouter(prefix="/v1/admin/audit", tags=["audit"])

Auditor = Annotated[Staff, Depends(require_role("auditor", "admin"))]


def get_audit(services: ServicesDep) -> AuditLog:
    audit = getattr(services, "audit", None)
    if not isinstance(audit, AuditLog):
        raise ChatError("audit_unavailable", "the audit log is not enabled", 503)
    return audit


AuditDep = Annotated[AuditLog, Depends(get_audit)]


class AuditRecordOut(BaseModel):
    seq: int
    ts: str
    kind: str
    actor: str
    subject: str | None
    payload: dict[str, JsonValue]
    payload_sha256: str
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, r: AuditRecord) -> AuditRecordOut:
        return cls(
            seq=r.seq,
            ts=format_ts(r.ts_us),
            kind=r.kind,
            actor=r.actor,
            subject=r.subject,
            payload=r.payload,
            payload_sha256=r.payload_sha256,
            prev_hash=r.prev_hash,
            hash=r.hash,
        )


class AuditPage(BaseModel):
    records: list[AuditRecordOut]
    # Pass as `before_seq` for the next (older) page; None on the last page.
    next_before_seq: int | None


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None

    @classmethod
    def of(cls, r: VerifyResult) -> VerifyOut:
        return cls(ok=r.ok, checked=r.checked, first_bad_seq=r.first_bad_seq, reason=r.reason)


Kind = Annotated[str | None, Query(max_length=64)]
Subject = Annotated[str | None, Query(max_length=200)]


@router.get("", response_model=AuditPage)
async def list_records(
    staff: Auditor,
    audit: AuditDep,
    kind: Kind = None,
    subject: Subject = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """The shop's records, newest first; `since` inclusive, `until` exclusive (ISO 8601,
    UTC unless an offset is given)."""
    flt = AuditFilter(kind=kind, subject=subject, since=since, until=until)
    records = await audit.query(staff.tenant, flt, before_seq=before_seq, limit=limit)
    more = len(records) == limit
    return AuditPage(
        records=[AuditRecordOut.of(r) for r in records],
        next_before_seq=records[-1].seq if more else None,
    )


@router.get("/verify", response_model=VerifyOut)
async def verify(staff: Auditor, audit: AuditDep) -> VerifyOut:
    """Recompute the shop's hash chain from its checkpoint to its head."""
    return VerifyOut.of(await audit.verify(staff.tenant))


@router.get("/export")
async def export(
    staff: Auditor,
    audit: AuditDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """The shop's records oldest first as JSON lines, each as the hash definition in
    `kefu.audit.model` reads it."""
    action: dict[str, object] = {"action": "audit.export", "route": "/v1/admin/audit/export"}
    action |= {"since": since.isoformat() if since else None}
    action |= {"until": until.isoformat() if until else None}
    try:
        await audit.record(
            "admin.action",
            tenant=staff.tenant,
            actor=f"staff:{staff.name or staff.role}",
            payload=action,
            required=True,
        )
    except AuditWriteError as exc:
        raise ChatError("audit_unavailable", "the audit log cannot be written", 503) from exc

    async def lines() -> AsyncIterator[bytes]:
        async for rec in audit.export(staff.tenant, since, until):
            yield (canonical_json(rec) + "\n").encode()

    filename = f"audit-{staff.tenant}.jsonl"
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
