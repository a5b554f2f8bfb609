"""GET /v1/ws: the chat over a WebSocket (frames as in DESIGN.md §3)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from kefu.api.deps import tenant_for_key
from kefu.api.protocol import turn_to_wire
from kefu.channels.hub import customer_key, session_key
from kefu.channels.ratelimit import TokenBucket
from kefu.container import Services
from kefu.dialogue.manager import ButtonAction, ChatError, ChatRequest
from kefu.domain.types import JsonValue, TenantId

router = APIRouter()
log = logging.getLogger(__name__)

FRAME_TYPES = ("message", "action", "ping")


class _Connection:
    def __init__(self, ws: WebSocket, services: Services, tenant: TenantId) -> None:
        self.ws = ws
        self.services = services
        self.tenant = tenant
        q = ws.query_params
        self.session_id: str | None = q.get("session_id") or None
        self.user_id: str | None = q.get("user_id") or None
        self.channel = (q.get("channel") or "web")[:32]
        limits = services.settings.limits
        self.bucket = TokenBucket(limits.per_connection_rate, limits.per_connection_burst)
        self.hub_key: str | None = None
        self.customer_keys: set[str] = set()

    async def send_frame(self, frame: dict[str, JsonValue]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def error(self, code: str, message: str, client_msg_id: Any = None) -> None:
        self.services.metrics.errors.labels(code=code).inc()
        frame: dict[str, JsonValue] = {"type": "error", "code": code, "message": message}
        if isinstance(client_msg_id, str):
            frame["client_msg_id"] = client_msg_id
        await self.send_frame(frame)

    def bind(self, session_id: str) -> None:
        hub = self.services.hub
        key = session_key(self.tenant, session_id)
        if self.hub_key != key:
            if self.hub_key is not None:
                hub.detach(self.hub_key, self)
            hub.attach(key, self)
            self.hub_key = key
        self.session_id = session_id

    async def bind_customer(self, user_id: str | None) -> None:
        """Receive pushes for this customer (a channel login, or verified in the chat)."""
        if not user_id:
            return
        key = customer_key(self.tenant, user_id)
        if key not in self.customer_keys:
            self.customer_keys.add(key)
            await self.services.hub.attach_customer(key, self)

    def detach_all(self) -> None:
        hub = self.services.hub
        if self.hub_key is not None:
            hub.detach(self.hub_key, self)
        for key in self.customer_keys:
            hub.detach(key, self)


@router.websocket("/v1/ws")
async def websocket_chat(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    try:
        tenant = tenant_for_key(services.settings, ws.query_params.get("key"))
    except ChatError:
        await ws.close(code=4401, reason="a valid channel key is required")
        return
    await ws.accept()
    conn = _Connection(ws, services, tenant)
    services.metrics.connections.inc()
    try:
        await _resume(conn)
        # A user_id on the URL is only the customer when the channel vouches for it.
        if services.settings.channels.trust_user_id:
            await conn.bind_customer(conn.user_id)
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            await _on_frame(conn, message)
    except WebSocketDisconnect:
        return
    finally:
        services.metrics.connections.dec()
        conn.detach_all()


async def _resume(conn: _Connection) -> None:
    if conn.session_id is None:
        return
    try:
        await conn.services.manager.check_session(
            conn.tenant, conn.session_id, user_id=conn.user_id
        )
    except ChatError as exc:
        conn.session_id = None  # the next message starts a new session
        await conn.error(exc.code, exc.message + "; a new session will start")
        return
    conn.bind(conn.session_id)


async def _on_frame(conn: _Connection, message: MutableMapping[str, Any]) -> None:
    limit = conn.services.settings.limits.max_frame_bytes
    raw = message.get("text")
    if raw is None:
        data = message.get("bytes") or b""
        if len(data) > limit:
            await conn.error("frame_too_large", f"frames are limited to {limit} bytes")
            return
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            await conn.error("invalid_utf8", "frames must be UTF-8 JSON")
            return
    if len(raw) > limit:
        await conn.error("frame_too_large", f"frames are limited to {limit} bytes")
        return
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        await conn.error("bad_json", "frames must be JSON objects")
        return
    if not isinstance(frame, dict):
        await conn.error("bad_json", "frames must be JSON objects")
        return
    kind = frame.get("type")
    if kind not in FRAME_TYPES:
        await conn.error("unknown_frame_type", f"frame type must be one of {list(FRAME_TYPES)}")
        return
    if kind == "ping":
        await conn.send_frame({"type": "pong"})
        return
    cmid = frame.get("client_msg_id")
    if not conn.bucket.take():
        await conn.error("rate_limited", "too many frames on this connection, slow down", cmid)
        return
    await _on_turn(conn, frame, kind, cmid)


async def _on_turn(conn: _Connection, frame: dict[str, Any], kind: str, cmid: Any) -> None:
    text = frame.get("text")
    action = None
    if kind == "message":
        if not isinstance(text, str):
            await conn.error("empty_text", "a message frame needs a text", cmid)
            return
    else:
        aid, payload = frame.get("id"), frame.get("payload") or {}
        if not isinstance(aid, str) or not aid or len(aid) > 128 or not isinstance(payload, dict):
            await conn.error(
                "bad_action", "an action frame needs an id and an object payload", cmid
            )
            return
        action, text = ButtonAction(id=aid, payload=payload), None
    lang = frame.get("lang") if frame.get("lang") in ("zh", "en") else None
    req = ChatRequest(
        tenant=conn.tenant,
        session_id=conn.session_id,
        user_id=conn.user_id,
        channel=conn.channel,
        text=text,
        action=action,
        lang=lang,
        client_msg_id=cmid if isinstance(cmid, str) else None,
    )

    async def on_delta(piece: str) -> None:
        # A send to a customer who left raises: the turn stops and the model call is closed.
        delta: dict[str, JsonValue] = {"type": "reply_delta", "text": piece}
        if isinstance(cmid, str):
            delta["client_msg_id"] = cmid
        await conn.send_frame(delta)

    try:
        result = await conn.services.manager.handle(req, on_delta=on_delta)
    except ChatError as exc:
        await conn.send_frame(
            {
                "type": "error",
                "code": exc.code,
                "message": exc.message,
                **({"client_msg_id": cmid} if isinstance(cmid, str) else {}),
            }
        )
        return
    conn.bind(result.session_id)
    verified = result.slots.get("verified_user_id")
    await conn.bind_customer(verified if isinstance(verified, str) else None)
    out = turn_to_wire(result)
    out["type"] = "reply"
    if isinstance(cmid, str):
        out["client_msg_id"] = cmid
    await conn.send_frame(out)
