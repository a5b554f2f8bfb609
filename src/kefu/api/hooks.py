"""POST /v1/hooks/logistics: a courier aggregator or the shop reports parcel progress."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field, ValidationError

from kefu.api.deps import ServicesDep, TenantDep
from kefu.channels.hub import customer_key
from kefu.commerce.base import ConnectorError
from kefu.dialogue.manager import ChatError
from kefu.domain.commerce import TrackingEvent
from kefu.domain.types import JsonValue

router = APIRouter(prefix="/v1/hooks", tags=["hooks"])
log = logging.getLogger(__name__)


class TrackingEventIn(BaseModel):
    ts: float = Field(gt=0)
    description: str = Field(min_length=1, max_length=500)
    location: str = Field(default="", max_length=200)


class LogisticsUpdateIn(BaseModel):
    tracking_number: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    events: list[TrackingEventIn] = Field(min_length=1, max_length=200)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.post("/logistics")
async def logistics_update(
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    x_kefu_signature: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Store new tracking events (signed body) and push them to the customer's open chat,
    or keep the push for their next visit."""
    secret = services.settings.hooks.logistics_secret
    if secret is None:
        raise ChatError("hook_disabled", "the logistics webhook has no secret configured", 404)
    body = await request.body()
    if not x_kefu_signature or not hmac.compare_digest(
        signature(secret.get_secret_value(), body), x_kefu_signature
    ):
        raise ChatError("bad_signature", "X-Kefu-Signature does not match the body", 401)
    try:
        update = LogisticsUpdateIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ChatError("invalid_request", f"{where}: {first.get('msg')}", 422) from exc
    recorder = getattr(services.orders, "record_tracking", None)
    if recorder is None:
        raise ChatError("not_supported", "this shop back end keeps no tracking events", 501)
    events = [
        TrackingEvent(ts=e.ts, description=e.description, location=e.location)
        for e in update.events
    ]
    try:
        order = await recorder(tenant, tracking_number=update.tracking_number, events=events)
    except ConnectorError as exc:
        raise ChatError("store_unavailable", "could not store the update", 503) from exc
    if order is None:
        raise ChatError("unknown_tracking_number", "no order ships with that number", 404)
    latest = max(update.events, key=lambda e: e.ts)
    frame: dict[str, JsonValue] = {
        "type": "push",
        "kind": "logistics",
        "order_id": order.order_id,
        "tracking_number": update.tracking_number,
        "text": f"订单 {order.order_id} 物流更新 / Order update: {latest.description}",
        "events": [e.model_dump() for e in update.events],
    }
    delivered = await services.hub.push(customer_key(tenant, order.user_id), frame, keep=True)
    log.info("hooks.logistics order=%s delivered=%d", order.order_id, delivered)
    return {"order_id": order.order_id, "delivered": delivered, "kept": delivered == 0}
