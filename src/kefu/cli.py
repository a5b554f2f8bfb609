"""The `kefu` command: serve, chat, version."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from kefu import __version__
from kefu.audit.cli import app as audit_app
from kefu.commerce.cli import app as shop_app
from kefu.knowledge.cli import app as kb_app
from kefu.nlu.cli import app as nlu_app
from kefu.privacy.cli import app as privacy_app
from kefu.safety.pii import PiiLogFilter
from kefu.settings import Settings

app = typer.Typer(
    help="kefu (客服): self-hosted customer service for e-commerce shops.", no_args_is_help=True
)
console = Console()
app.add_typer(shop_app, name="shop")
app.add_typer(nlu_app, name="nlu")
app.add_typer(kb_app, name="kb")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")


@app.command()
def version() -> None:
    """Print kefu's version."""
    console.print(f"kefu {__version__}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
) -> None:
    """Serve the chat API, the WebSocket and the web chat page."""
    import uvicorn
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from kefu.api.app import create_app

    # One BLAS thread: the server multiplies small matrices (a sentence at a time), and
    # OpenBLAS's idle worker threads spin; under load they burned a whole core
    # (bench/llm_path.py: 1.19 -> 0.32 cores at the same load). OPENBLAS_NUM_THREADS set by
    # the operator is left alone.
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        threadpool_limits(limits=1)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # no personal data in the logs
        handler.addFilter(PiiLogFilter())
    h = host or settings.server.host
    p = port or settings.server.port
    console.print(
        f"[bold green]kefu[/] serving on http://{h}:{p}  (storage: "
        f"{settings.resolved_storage_url()})"
    )
    uvicorn.run(
        create_app(settings, tune_gc=True),
        host=h,
        port=p,
        log_level=log_level.lower(),
        log_config=None,  # uvicorn's loggers propagate to the root handler and its filter
        ws_max_size=settings.limits.max_frame_bytes * 4,
        access_log=False,
    )


@app.command()
def chat(
    url: Annotated[
        str | None, typer.Option(help="A running kefu, e.g. http://127.0.0.1:8000")
    ] = None,
    user_id: Annotated[str | None, typer.Option(help="The customer's user id")] = None,
    lang: Annotated[str | None, typer.Option(help="Force zh or en")] = None,
) -> None:
    """A conversation in the terminal: in-process by default, or against --url."""
    asyncio.run(_chat_loop(url, user_id, lang))


async def _chat_loop(url: str | None, user_id: str | None, lang: str | None) -> None:
    console.print("[dim]Type a message; /quit to leave; a number picks a button.[/]")
    session_id: str | None = None
    options: list[dict[str, Any]] = []
    async with _Backend(url) as backend:
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold cyan]你/you> [/]")
            except (EOFError, KeyboardInterrupt):
                return
            line = line.strip()
            if line in ("/quit", "/exit"):
                return
            if not line:
                continue
            body: dict[str, Any] = {
                "session_id": session_id,
                "user_id": user_id,
                "channel": "cli",
                "lang": lang,
            }
            if line.isdigit() and 0 < int(line) <= len(options):
                opt = options[int(line) - 1]
                body["action"] = {"id": opt["id"], "payload": opt.get("payload", {})}
            else:
                body["text"] = line
            try:
                turn = await backend.send(body)
            except _CliError as exc:
                console.print(f"[red]{exc}[/]")
                continue
            session_id = turn["session_id"]
            options = _show_turn(turn)


def _show_turn(turn: dict[str, Any]) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    for reply in turn["replies"]:
        if reply["type"] in ("text", "options") and reply.get("text"):
            console.print(f"[bold magenta]客服> [/]{reply['text']}")
        if reply["type"] == "options":
            for opt in reply["options"]:
                options.append(opt)
                console.print(f"   [yellow]{len(options)}[/]. {opt['label']}")
        elif reply["type"] == "card":
            table = Table(title=reply["kind"], show_header=False)
            for k, v in reply["data"].items():
                if not isinstance(v, list | dict):
                    table.add_row(str(k), str(v))
            console.print(table)
    intent = turn.get("intent") or {}
    flow = turn.get("flow") or {}
    console.print(
        f"[dim]intent={intent.get('name')} ({intent.get('confidence', 0):.2f}, "
        f"{intent.get('stage')}) flow={flow.get('name')}:{flow.get('step')} "
        f"source={turn['answer_source']}[/]"
    )
    if turn.get("handoff"):
        console.print(Panel("已转人工 / handed off to a human agent", style="yellow"))
    return options


class _CliError(Exception):
    pass


class _Backend:
    """Either an in-process kefu (embedded default) or a running server over HTTP."""

    def __init__(self, url: str | None) -> None:
        self._url = url
        self._http: httpx.AsyncClient | None = None
        self._services: Any = None

    async def __aenter__(self) -> _Backend:
        if self._url:
            self._http = httpx.AsyncClient(base_url=self._url, timeout=10.0)
        else:
            from kefu.container import build_services

            settings = Settings()
            self._services = build_services(settings)
            await self._services.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._services is not None:
            await self._services.close()

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._http is not None:
            try:
                r = await self._http.post("/v1/chat", json=body)
            except httpx.HTTPError as exc:
                raise _CliError(f"cannot reach {self._url}: {exc}") from exc
            data: dict[str, Any] = r.json()
            if r.status_code >= 400:
                raise _CliError(f"{data['error']['code']}: {data['error']['message']}")
            return data
        from kefu.api.protocol import turn_to_wire
        from kefu.dialogue.manager import ButtonAction, ChatError, ChatRequest
        from kefu.domain.types import DEFAULT_TENANT

        action = body.get("action")
        req = ChatRequest(
            tenant=DEFAULT_TENANT,
            session_id=body.get("session_id"),
            user_id=body.get("user_id"),
            channel="cli",
            text=body.get("text"),
            lang=body.get("lang"),
            action=ButtonAction(id=action["id"], payload=action["payload"]) if action else None,
        )
        try:
            result = await self._services.manager.handle(req)
        except ChatError as exc:
            raise _CliError(f"{exc.code}: {exc.message}") from exc
        return turn_to_wire(result)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
