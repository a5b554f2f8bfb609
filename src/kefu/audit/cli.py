"""`kefu audit ...`: verify the hash chains, purge old records, export a tenant's records.

The commands open the audit database from the settings directly (no server needed)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, TextIO, TypeVar

import typer
from rich.console import Console

from kefu.audit.model import canonical_json
from kefu.audit.service import AuditChainBroken, AuditLog, build_audit_log
from kefu.settings import Settings

T = TypeVar("T")
app = typer.Typer(help="The audit log: verify, purge, export.", no_args_is_help=True)
console = Console(stderr=True)


def _run(work: Callable[[AuditLog], Awaitable[T]]) -> T:
    settings = Settings()

    async def main() -> T:
        audit = build_audit_log(settings)
        await audit.start()
        try:
            return await work(audit)
        finally:
            await audit.close()

    return asyncio.run(main())


def _when(value: str | None, *, end: bool) -> datetime | None:
    """An ISO date or time (UTC unless it has an offset); a bare date means the start of
    that day, or with `end` the start of the next day (so the day is included)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = datetime.combine(datetime.fromisoformat(value).date(), time(), tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command()
def verify(
    tenant: Annotated[str | None, typer.Option(help="One tenant (default: every tenant)")] = None,
) -> None:
    """Recompute every hash chain; exit code 1 and the first bad seq when one is broken."""

    async def work(audit: AuditLog) -> list[tuple[str, bool, str]]:
        lines = []
        names = [tenant] if tenant else await audit.tenants()
        for name in names:
            r = await audit.verify(name)
            if r.ok:
                lines.append((name, True, f"ok, {r.checked} records checked"))
            else:
                lines.append((name, False, f"BROKEN at seq {r.first_bad_seq}: {r.reason}"))
        return lines

    results = _run(work)
    for name, ok, text in results:
        console.print(f"tenant {name}: [{'green' if ok else 'bold red'}]{text}[/]")
    if not results:
        console.print("no audit records")
    if not all(ok for _, ok, _ in results):
        raise typer.Exit(1)


@app.command()
def purge(
    days: Annotated[
        int | None, typer.Option(min=1, help="Retention in days (default: audit.retention_days)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Also purge a chain that does not verify")] = False,
) -> None:
    """Delete records older than the retention period; the chains stay verifiable."""

    async def work(audit: AuditLog) -> tuple[int, int]:
        n = days or audit.settings.retention_days
        return await audit.purge(n, force=force, actor="cli"), n

    try:
        purged, n = _run(work)
    except AuditChainBroken as exc:
        console.print(f"[bold red]{exc}[/]; purged {exc.purged} records of the other chains")
        raise typer.Exit(1) from exc
    console.print(f"purged {purged} records older than {n} days")


@app.command()
def export(
    tenant: Annotated[str, typer.Option(help="The shop (tenant) id")],
    since: Annotated[str | None, typer.Option(help="From this date/time (UTC), inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="To this date/time, a date inclusive")] = None,
    output: Annotated[Path | None, typer.Option(help="A .jsonl file (default: stdout)")] = None,
) -> None:
    """A tenant's records as JSON lines, oldest first (an auditor can recompute the hashes
    as the module `kefu.audit.model` describes)."""
    start, stop = _when(since, end=False), _when(until, end=True)

    async def write(audit: AuditLog, out: TextIO) -> int:
        action = {"action": "audit.export", "since": since, "until": until}
        await audit.record("admin.action", tenant=tenant, actor="cli", payload=action)
        count = 0
        async for rec in audit.export(tenant, start, stop):
            out.write(canonical_json(rec) + "\n")
            count += 1
        return count

    if output is None:
        count = _run(lambda audit: write(audit, sys.stdout))
    else:
        with output.open("w", encoding="utf-8") as f:
            count = _run(lambda audit: write(audit, f))
    console.print(f"exported {count} records of tenant {tenant}")
