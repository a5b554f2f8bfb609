"""`kefu kb ...`: import, search, list, show, delete, seed and reindex the knowledge base.

The commands work on the store of record directly (no server needed); a running server
picks the changes up within `knowledge.reload_interval_s`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kefu.knowledge.factory import Knowledge, build_knowledge, knowledge_settings
from kefu.knowledge.model import EntryKind, FaqEntry
from kefu.knowledge.parsing import ImportAborted, KindOption, ParseResult, parse_file
from kefu.knowledge.policy import decide
from kefu.knowledge.service import ImportPlan, ImportSummary
from kefu.nlu.lang import detect_lang
from kefu.settings import Settings

T = TypeVar("T")
app = typer.Typer(help="The knowledge base: FAQ and documents.", no_args_is_help=True)
console = Console()

TenantOption = Annotated[str, typer.Option(help="The shop (tenant) id")]
LangOption = Annotated[str | None, typer.Option(help="zh or en (default: detected)")]


def _run(work: Callable[[Knowledge], Awaitable[T]]) -> T:
    """Run `work` on a started knowledge layer built from the settings (never seeding the
    default FAQ: that happens only when a server starts on a never-written KB)."""
    settings = Settings()
    k_settings = knowledge_settings(settings).model_copy(update={"seed_default_faq": False})
    settings = settings.model_copy(update={"knowledge": k_settings})

    async def main() -> T:
        knowledge = build_knowledge(settings)
        await knowledge.start()
        try:
            return await work(knowledge)
        finally:
            await knowledge.close()

    return asyncio.run(main())


def _show_rejected(parsed: ParseResult) -> None:
    if not parsed.rejected:
        return
    table = Table(title=f"rejected rows ({len(parsed.rejected)})", title_style="bold red")
    for col in ("line", "id", "reason"):
        table.add_column(col)
    for r in parsed.rejected[:200]:
        table.add_row(str(r.line), r.id, r.reason)
    console.print(table)
    if len(parsed.rejected) > 200:
        console.print(f"[red]... and {len(parsed.rejected) - 200} more[/]")


def _show_summary(summary: ImportSummary | ImportPlan, rejected: int, *, dry: bool) -> None:
    if isinstance(summary, ImportPlan):
        added, updated = [e.id for e in summary.added], [e.id for e in summary.updated]
        unchanged, deleted = list(summary.unchanged), list(summary.deleted)
    else:
        added, updated = summary.added, summary.updated
        unchanged, deleted = summary.unchanged, summary.deleted
    verb = "would be" if dry else ""
    console.print(
        f"[bold]{'dry run: ' if dry else ''}[/]"
        f"[green]{len(added)} added[/], [cyan]{len(updated)} updated[/], "
        f"{len(unchanged)} unchanged, [yellow]{len(deleted)} deleted[/], "
        f"[red]{rejected} rejected[/] {verb}".rstrip()
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    tenant: TenantOption = "default",
    kind: Annotated[str, typer.Option(help="auto, faq or doc")] = "auto",
    lang: LangOption = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the file")] = "utf-8",
    strict: Annotated[bool, typer.Option(help="Import nothing if any row is bad")] = False,
    prune: Annotated[bool, typer.Option(help="Delete entries the file does not have")] = False,
    dry_run: Annotated[bool, typer.Option(help="Check and count, write nothing")] = False,
) -> None:
    """Import FAQ (JSONL/CSV/YAML) or documents (Markdown, text, JSONL). Same id = update."""
    if kind not in ("auto", "faq", "doc"):
        raise typer.BadParameter("kind must be auto, faq or doc")
    kind_opt: KindOption = "faq" if kind == "faq" else "doc" if kind == "doc" else "auto"
    try:
        parsed = parse_file(
            file,
            kind=kind_opt,
            lang=lang,
            encoding=encoding,
            limits=knowledge_settings(Settings()).imports,
        )
    except ImportAborted as exc:
        console.print(f"[bold red]import refused:[/] {exc}. Nothing was imported.")
        raise typer.Exit(1) from exc
    except LookupError as exc:
        raise typer.BadParameter(f"unknown encoding {encoding!r}") from exc
    _show_rejected(parsed)
    if strict and parsed.rejected:
        console.print("[bold red]--strict: nothing was imported.[/]")
        raise typer.Exit(1)
    entries = [r.entry for r in parsed.rows]

    async def work(k: Knowledge) -> ImportSummary | ImportPlan:
        plan = await k.kb.plan(tenant, entries, prune=prune)
        if dry_run:
            return plan
        total = k.kb.passage_count(plan.to_index)
        with Progress(
            TextColumn("[bold]embedding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("embed", total=total)
            return await k.kb.apply_plan(tenant, plan, progress=lambda n: bar.advance(task, n))

    try:
        summary = _run(work)
    except KeyboardInterrupt:
        console.print("[bold red]interrupted: nothing was imported.[/]")
        raise typer.Exit(130) from None
    _show_summary(summary, len(parsed.rejected), dry=dry_run)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="A question as a customer would ask it")],
    tenant: TenantOption = "default",
    lang: LangOption = None,
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
) -> None:
    """Ranked entries with their dense, BM25 and fused scores, and the bot's decision."""
    q_lang = lang or detect_lang(query) or "zh"

    async def work(k: Knowledge) -> None:
        ranked = await k.rank(query, lang=q_lang, tenant=tenant)
        decision = decide(ranked, k.answerer.policy, lang=q_lang)
        table = Table(title=f"{query}  ({q_lang})")
        for col in ("#", "id", "kind", "title", "dense", "BM25", "fused"):
            numeric = col in ("#", "dense", "BM25", "fused")
            table.add_column(col, justify="right" if numeric else "left")
        for i, c in enumerate(ranked[:limit], start=1):
            table.add_row(
                str(i),
                c.entry_id,
                c.kind,
                c.title[:60],
                f"{c.dense:.3f}",
                f"{c.sparse:.3f}",
                f"{c.fused:.3f}",
            )
        console.print(table)
        chosen = ", ".join(c.entry_id for c in decision.chosen)
        console.print(f"decision: [bold]{decision.outcome}[/] {chosen}")

    _run(work)


@app.command("list")
def list_(
    tenant: TenantOption = "default",
    kind: Annotated[str | None, typer.Option(help="faq or doc")] = None,
    lang: Annotated[str | None, typer.Option(help="zh or en")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Entries of the knowledge base, by id."""
    kind_opt: EntryKind | None = "faq" if kind == "faq" else "doc" if kind == "doc" else None

    async def work(k: Knowledge) -> None:
        entries, total = await k.kb.list_entries(
            tenant, kind=kind_opt, lang=lang, offset=offset, limit=limit
        )
        table = Table(title=f"{total} entries (tenant {tenant})")
        for col in ("id", "kind", "lang", "category", "title"):
            table.add_column(col)
        for s in entries:
            e = s.entry
            table.add_row(e.id, e.kind, e.lang, e.category, e.title[:70])
        console.print(table)

    _run(work)


@app.command()
def show(entry_id: str, tenant: TenantOption = "default") -> None:
    """One entry in full."""

    async def work(k: Knowledge) -> bool:
        stored = await k.kb.get(tenant, entry_id)
        if stored is None:
            return False
        e = stored.entry
        console.print(f"[bold]{e.id}[/] ({e.kind}, {e.lang}, {e.category or '-'})")
        if isinstance(e, FaqEntry):
            console.print(f"Q: {e.question}")
            for s in e.similar:
                console.print(f"   ~ {s}")
            console.print(f"A: {e.answer}")
        else:
            console.print(f"# {e.title}\n{e.content}")
        return True

    if not _run(work):
        console.print(f"[red]no entry {entry_id!r}[/]")
        raise typer.Exit(1)


@app.command()
def delete(
    ids: Annotated[list[str], typer.Argument(help="Entry ids")],
    tenant: TenantOption = "default",
) -> None:
    """Delete entries by id."""

    async def work(k: Knowledge) -> list[str]:
        return await k.kb.delete(tenant, ids)

    gone = _run(work)
    missing = sorted(set(ids) - set(gone))
    note = f"; not found: {', '.join(missing)}" if missing else ""
    console.print(f"deleted {len(gone)}{note}")
    if missing and not gone:
        raise typer.Exit(1)


@app.command()
def seed(tenant: TenantOption = "default") -> None:
    """Import kefu's default FAQ (zh + en) into the tenant (existing ids are updated)."""

    async def work(k: Knowledge) -> ImportSummary:
        return await k.kb.seed_default_faq(tenant)

    _show_summary(_run(work), 0, dry=False)


@app.command()
def reindex(tenant: TenantOption = "default") -> None:
    """Rebuild the search index of the tenant from the store (e.g. after switching to
    Milvus); vectors are reused, entries of another embedder are re-embedded."""

    async def work(k: Knowledge) -> int:
        passages = await k.kb.store.passages(tenant, embedder=k.kb.embedder.name)
        await k.kb.retriever.load(tenant, passages)
        return len(passages)

    console.print(f"indexed {_run(work)} passages")
