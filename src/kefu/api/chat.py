"""POST /v1/chat, POST /v1/chat/stream (SSE) and GET /v1/sessions/{id}."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from kefu.api.deps import ServicesDep, TenantDep
from kefu.api.protocol import ChatIn, ChatOut, ErrorOut, SessionOut, state_to_wire, turn_to_wire
from kefu.container import Services
from kefu.dialogue.manager import ButtonAction, ChatError, ChatRequest, TurnResult
from kefu.domain.types import TenantId

router = APIRouter(prefix="/v1", tags=["chat"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


def _request(body: ChatIn, tenant: TenantId) -> ChatRequest:
    return ChatRequest(
        tenant=tenant,
        session_id=body.session_id,
        user_id=body.user_id,
        channel=body.channel,
        text=body.text,
        action=ButtonAction(id=body.action.id, payload=body.action.payload)
        if body.action
        else None,
        lang=body.lang,
    )


@router.post("/chat", response_model=ChatOut, responses=ERRORS)
async def chat(body: ChatIn, services: ServicesDep, tenant: TenantDep) -> dict[str, Any]:
    """One turn: send `text` (or a button `action`), get the bot's replies and the state."""
    result = await services.manager.handle(_request(body, tenant))
    return turn_to_wire(result)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@router.post(
    "/chat/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    response_class=StreamingResponse,
)
async def chat_stream(body: ChatIn, services: ServicesDep, tenant: TenantDep) -> StreamingResponse:
    """One turn as Server-Sent Events: `reply_delta` events (`{"text"}`) while an LLM answer
    is written, then one `reply` event with the whole turn (as `POST /v1/chat` returns it;
    its replies replace the deltas), or one `error` event (`{"code", "message"}`).

    A client that disconnects mid-stream cancels the turn and the model request with it."""
    return StreamingResponse(
        _stream_turn(services, _request(body, tenant)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream_turn(services: Services, req: ChatRequest) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def on_delta(piece: str) -> None:
        await queue.put(_event("reply_delta", {"text": piece}))

    async def run() -> None:
        try:
            result: TurnResult = await services.manager.handle(req, on_delta=on_delta)
            await queue.put(_event("reply", turn_to_wire(result)))
        except ChatError as exc:
            await queue.put(_event("error", {"code": exc.code, "message": exc.message}))
        finally:
            await queue.put(None)

    task = asyncio.create_task(run())
    try:
        while (item := await queue.get()) is not None:
            yield item
        await task
    finally:
        if not task.done():  # the client went away: stop the turn and its model call
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@router.get("/sessions/{session_id}", response_model=SessionOut, responses=ERRORS)
async def get_session(
    session_id: str, services: ServicesDep, tenant: TenantDep, user_id: str | None = None
) -> dict[str, Any]:
    """The tracked state of a session: intent, slots, flow stack and the whole history."""
    state = await services.manager.session_state(tenant, session_id, user_id=user_id)
    return state_to_wire(state)
