"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kefu.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep, response: Response) -> dict[str, str]:
    """The process can serve: its session store answers."""
    if await services.store.ping():
        return {"status": "ready"}
    response.status_code = 503
    return {"status": "not ready", "reason": "session store unavailable"}


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    return Response(
        content=services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
