"""`kefu privacy ...`: export or erase what kefu holds on a customer (PIPL / GDPR).

The commands open the stores from the settings directly (no server needed). A server that
is running meanwhile may keep an erased session in memory until that session's next turn,
which then fails; prefer `DELETE /v1/admin/privacy/customers/{id}` while a server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from kefu.audit.service import build_audit_log
from kefu.container import build_shop, build_store
from kefu.privacy.service import PrivacyService, check_ids
from kefu.settings import Settings

T = TypeVar("T")
app = typer.Typer(
    help="Data-subject requests: export or erase a customer's data.", no_args_is_help=True
)
console = Console(stderr=True)

Customer = Annotated[str, typer.Option("--customer", help="The customer's id (user id)")]
Tenant = Annotated[str, typer.Option(help="The shop (tenant) id")]


def _run(work: Callable[[PrivacyService], Awaitable[T]]) -> T:
    settings = Settings()

    async def main() -> T:
        store, shop, audit = build_store(settings), build_shop(settings), build_audit_log(settings)
        async with contextlib.AsyncExitStack() as stack:
            await store.start()
            stack.push_async_callback(store.close)
            await shop.start()
            stack.push_async_callback(shop.close)
            await audit.start()
            stack.push_async_callback(audit.close)
            return await work(PrivacyService(store, shop, audit))

    return asyncio.run(main())


def _checked(tenant: str, customer: str) -> None:
    try:
        check_ids(tenant, customer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def export(
    customer: Customer,
    tenant: Tenant = "default",
    output: Annotated[Path | None, typer.Option(help="A .json file (default: stdout)")] = None,
) -> None:
    """Everything kefu holds on the customer, as one JSON document."""
    _checked(tenant, customer)
    data = _run(lambda p: p.export(tenant, customer, actor="cli"))
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:  # personal data: readable by its owner only
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
    sessions, tickets = data["sessions"], data["tickets"]
    n_sessions = len(sessions) if isinstance(sessions, list) else 0
    n_tickets = len(tickets) if isinstance(tickets, list) else 0
    console.print(
        f"exported {n_sessions} sessions and {n_tickets} tickets of {customer}", markup=False
    )


@app.command()
def erase(
    customer: Customer,
    tenant: Tenant = "default",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete the customer's sessions, anonymise their tickets, erase their audit payloads."""
    _checked(tenant, customer)
    if not yes:
        typer.confirm(f"Erase everything kefu holds on {customer} (tenant {tenant})?", abort=True)
    report = _run(lambda p: p.erase(tenant, customer, actor="cli"))
    console.print(
        f"erased {report.sessions_erased} sessions, anonymised {report.tickets_anonymised} "
        f"tickets, erased {report.audit_records_erased} audit payloads of {customer}",
        markup=False,
    )
    for o in report.not_erased:
        console.print(f"not erased: {o.what}: {o.reason}", markup=False)
