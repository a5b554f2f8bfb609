"""POST /v1/chat and GET /v1/sessions/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kefu.api.deps import ServicesDep, TenantDep
from kefu.api.protocol import ChatIn, ChatOut, ErrorOut, SessionOut, state_to_wire, turn_to_wire
from kefu.dialogue.manager import ButtonAction, ChatRequest

router = APIRouter(prefix="/v1", tags=["chat"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


@router.post("/chat", response_model=ChatOut, responses=ERRORS)
async def chat(body: ChatIn, services: ServicesDep, tenant: TenantDep) -> dict[str, Any]:
    """One turn: send `text` (or a button `action`), get the bot's replies and the state."""
    req = ChatRequest(
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
    result = await services.manager.handle(req)
    return turn_to_wire(result)


@router.get("/sessions/{session_id}", response_model=SessionOut, responses=ERRORS)
async def get_session(
    session_id: str, services: ServicesDep, tenant: TenantDep, user_id: str | None = None
) -> dict[str, Any]:
    """The tracked state of a session: intent, slots, flow stack and the whole history."""
    state = await services.manager.session_state(tenant, session_id, user_id=user_id)
    return state_to_wire(state)
