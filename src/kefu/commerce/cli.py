"""`kefu shop ...`: import, export and the demo shop of the built-in shop store."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from kefu.commerce.demo import demo_shop, seed_demo
from kefu.commerce.settings import ShopSettings
from kefu.commerce.sql_store import SqlShopStore
from kefu.commerce.tau2 import Tau2FormatError, from_tau2, to_tau2
from kefu.commerce.wire import ShopFileModel
from kefu.domain.commerce import ShopData

T = TypeVar("T")
app = typer.Typer(help="The built-in shop store: import, export, demo data.", no_args_is_help=True)
console = Console(stderr=True)


class Format(StrEnum):
    KEFU = "kefu"
    TAU2 = "tau2"


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: shop.url, else the storage URL)"),
]
TenantOption = Annotated[str, typer.Option(help="The shop (tenant) id")]


def _db_url(db: str | None) -> tuple[str, str | None]:
    """The URL and PostgreSQL schema to use, from --db or the settings."""
    if db:
        return db, None
    from kefu.settings import Settings

    settings = Settings()
    shop = getattr(settings, "shop", None)
    url = shop.url if isinstance(shop, ShopSettings) and shop.url else None
    url = url or settings.resolved_storage_url()
    if not url.startswith(("sqlite", "postgresql")):
        raise typer.BadParameter(f"the shop store needs a SQL database, not {url!r}")
    return url, settings.storage.schema_name


def _run(db: str | None, work: Callable[[SqlShopStore], Awaitable[T]]) -> T:
    from kefu.dialogue.sql_store import make_engine

    url, schema = _db_url(db)

    async def main() -> T:
        engine = make_engine(url, schema=schema)
        store = SqlShopStore(engine)
        try:
            await store.start()
            return await work(store)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def parse(doc: Any, fmt: Format) -> ShopData:
    """A shop document (parsed JSON) as ShopData; raises ValueError when malformed."""
    if fmt == Format.TAU2:
        return from_tau2(doc)
    return ShopFileModel.model_validate(doc).to_domain()


def render(data: ShopData, fmt: Format) -> str:
    if fmt == Format.TAU2:
        return json.dumps(to_tau2(data), indent=4, ensure_ascii=False)  # τ²-bench's layout
    return ShopFileModel.of(data).model_dump_json(indent=2)


def _load(db: str | None, tenant: str, data: ShopData, *, replace: bool) -> None:
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        _run(db, lambda s: s.load(tenant, data, replace=replace, progress=progress))


def _summary(data: ShopData) -> str:
    return (
        f"{len(data.customers)} customers, {len(data.products)} products, "
        f"{len(data.orders)} orders, {len(data.tickets)} tickets"
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A JSON file")],
    format: Annotated[Format, typer.Option("--format", help="kefu or tau2")] = Format.KEFU,
    tenant: TenantOption = "default",
    merge: Annotated[
        bool, typer.Option(help="Keep the shop's other records (same ids are replaced)")
    ] = False,
    db: DbOption = None,
) -> None:
    """Load customers, products, orders (and tickets) into the built-in shop store."""
    try:
        data = parse(json.loads(file.read_text(encoding="utf-8")), format)
    except (ValueError, ValidationError, Tau2FormatError) as exc:
        console.print(f"[red]{file} is not a valid {format} shop file:[/] {str(exc)[:2000]}")
        raise typer.Exit(code=2) from exc
    _load(db, tenant, data, replace=not merge)
    console.print(f"[green]imported[/] {_summary(data)} into shop {tenant!r}")


@app.command()
def export(
    format: Annotated[Format, typer.Option("--format", help="kefu or tau2")] = Format.KEFU,
    output: Annotated[Path | None, typer.Option(help="Write here (default: stdout)")] = None,
    tenant: TenantOption = "default",
    db: DbOption = None,
) -> None:
    """Write the shop out; `--format tau2` gives τ²-bench's db.json shape."""
    data = _run(db, lambda s: s.dump(tenant))
    text = render(data, format)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"[green]exported[/] {_summary(data)} to {output}")


@app.command()
def demo(
    tenant: TenantOption = "default",
    output: Annotated[
        Path | None, typer.Option(help="Write the demo as a kefu shop file instead of loading it")
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the shop has no orders yet")
    ] = False,
    db: DbOption = None,
) -> None:
    """Load kefu's Chinese demo shop (customers, products, orders in every status)."""
    data = demo_shop()
    if output is not None:
        output.write_text(render(data, Format.KEFU), encoding="utf-8")
        console.print(f"[green]wrote[/] the demo shop ({_summary(data)}) to {output}")
        return

    async def work(store: SqlShopStore) -> bool:
        if if_empty:
            return await seed_demo(store, tenant)
        await store.load(tenant, data)
        return True

    if _run(db, work):
        console.print(f"[green]loaded[/] the demo shop ({_summary(data)}) into shop {tenant!r}")
    else:
        console.print(f"shop {tenant!r} already has orders; the demo was not loaded")


@app.command()
def contract() -> None:
    """Print the OpenAPI contract a shop's back end serves for the `http` connector."""
    from kefu.commerce.http_server import contract_yaml

    sys.stdout.write(contract_yaml())
