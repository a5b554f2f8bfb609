"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu import __version__
from kefu.api import chat, health, hooks, ws
from kefu.audit.hooks import AdminAuditMiddleware
from kefu.audit.router import router as audit_router
from kefu.container import Services, build_services
from kefu.dialogue.manager import ChatError
from kefu.knowledge.router import router as kb_router
from kefu.privacy.router import router as privacy_router
from kefu.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, services: Services | None = None, *, tune_gc: bool = False
) -> FastAPI:
    """Build the app. Services are created here (not at import) unless a test passes them.

    `tune_gc` (for a server process of its own, as `kefu serve` runs it): after start-up,
    move everything loaded so far out of the cyclic collector's sight and collect less
    often. Measured under load, full collections over the ~300k start-up objects were the
    main cause of the p99 latency.
    """
    services = services or build_services(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(10_000, 10, 10)
        log.info("kefu.started storage=%s", services.settings.resolved_storage_url())
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="kefu",
        version=__version__,
        description="Self-hosted customer service for e-commerce shops.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(chat.router)
    app.include_router(ws.router)
    app.include_router(health.router)
    app.include_router(hooks.router)
    app.include_router(kb_router)
    app.include_router(audit_router)
    app.include_router(privacy_router)
    app.add_middleware(AdminAuditMiddleware)
    _install_error_handlers(app)
    _mount_web(app)
    return app


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ChatError)
    async def on_chat_error(request: Request, exc: ChatError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        if exc.status_code == 400:
            try:
                (await request.body()).decode("utf-8")
                code = "bad_json"
            except UnicodeDecodeError:
                code = "invalid_utf8"
        message = exc.detail if isinstance(exc.detail, str) else code
        if code == "invalid_utf8":
            message = "the request body must be UTF-8 JSON"
        response = _error(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        services: Services = request.app.state.services
        body = exc.body
        if isinstance(body, bytes | bytearray):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                services.metrics.errors.labels(code="invalid_utf8").inc()
                return _error(400, "invalid_utf8", "the request body must be UTF-8 JSON")
        errors = exc.errors()
        if any(e.get("type") in ("json_invalid", "model_attributes_type") for e in errors):
            services.metrics.errors.labels(code="bad_json").inc()
            return _error(400, "bad_json", "the request body must be a JSON object")
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        services.metrics.errors.labels(code="invalid_request").inc()
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")


def _mount_web(app: FastAPI) -> None:
    static = resources.files("kefu.web").joinpath("static")
    static_dir = str(static)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(f"{static_dir}/index.html", media_type="text/html; charset=utf-8")
