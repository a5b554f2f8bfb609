"""Settings of the audit log (`Settings.audit`, env `KEFU_AUDIT__...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class AuditSettings(BaseModel):
    enabled: bool = True
    # `kefu audit purge` (and a scheduled purge) deletes records older than this.
    retention_days: int = Field(default=180, ge=1, le=36_500)
    # False: a record keeps only the sha256 of its (masked) payload, not the payload.
    store_payloads: bool = True
    # Database of the audit log. None: the sessions' PostgreSQL database, or with SQLite
    # a file of its own, `<data_dir>/audit.db` (so audit writes never wait on session writes).
    url: str | None = None


def resolved_audit_url(audit: AuditSettings, *, data_dir: Path, storage_url: str) -> str:
    """The audit log's database URL (see `AuditSettings.url`)."""
    if audit.url:
        return audit.url
    if storage_url.startswith("postgresql"):
        return storage_url
    return f"sqlite+aiosqlite:///{(data_dir / 'audit.db').as_posix()}"
