"""Where the audit log listens: model calls, back-end writes, admin actions.

- `AuditedChatModel` wraps the model stack: every request (its messages, which the prompt
  builders have masked already and the audit masker masks again) and every response or
  failure becomes a record, `llm.request` / `llm.response`, tied to the turn's session.
  These are queued without waiting for their commit (`record_soon`): the turn does not
  wait for an fsync per model call; a crash can lose the last batch's model records.
- `audit_writes` hooks the shop's writing actions in the action registry: each write
  attempt and its outcome becomes a `shop.write` record (written after the action, outside
  its time limit) (actor: the session; subject: the
  verified customer).
- `AdminAuditMiddleware` records every admin API call that changes something (method
  other than GET/HEAD/OPTIONS) with the staff member, route and status: `admin.action`.

Audit writes never fail the customer's turn: a store failure is logged and counted by the
audit log itself.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.audit.service import AuditLog
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult, AfterHook
from kefu.domain.types import JsonValue
from kefu.llm.base import ChatMessage, ChatModel, LlmError, LlmRequest, LlmResponse, close_stream
from kefu.observability.context import current_turn

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _where() -> tuple[str, str, str | None]:
    ref = current_turn.get()
    if ref is None:
        return "default", "system", None
    return ref.tenant, f"session:{ref.session_id}", ref.user_id


class AuditedChatModel:
    """A `ChatModel` that records each call in the audit log."""

    def __init__(self, inner: ChatModel, audit: AuditLog) -> None:
        self.inner = inner
        self._audit = audit

    @property
    def name(self) -> str:
        return self.inner.name

    def _request(self, request: LlmRequest) -> None:
        tenant, actor, subject = _where()
        payload: dict[str, JsonValue] = {
            "model": self.inner.name,
            "purpose": request.purpose,
            "messages": [_message(m) for m in request.messages],
        }
        # The prompt builders mask personal data before a request is made (a per-turn vault).
        self._audit.record_soon(
            "llm.request",
            tenant=tenant,
            actor=actor,
            subject=subject,
            payload=payload,
            premasked=True,
        )

    def _response(self, request: LlmRequest, started: float, **fields: JsonValue) -> None:
        tenant, actor, subject = _where()
        payload: dict[str, JsonValue] = {
            "model": self.inner.name,
            "purpose": request.purpose,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            **fields,
        }
        self._audit.record_soon(
            "llm.response", tenant=tenant, actor=actor, subject=subject, payload=payload
        )

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self._request(request)
        started = time.perf_counter()
        try:
            response = await self.inner.complete(request)
        except LlmError as exc:
            self._response(request, started, error=exc.kind)
            raise
        self._response(
            request,
            started,
            text=response.text,
            finish_reason=response.finish_reason,
            completion_tokens=response.usage.completion_tokens,
        )
        return response

    async def stream(self, request: LlmRequest) -> AsyncGenerator[str, None]:
        self._request(request)
        started = time.perf_counter()
        pieces: list[str] = []
        outcome: dict[str, JsonValue] = {"finish_reason": "closed"}
        inner = self.inner.stream(request)
        try:
            async for piece in inner:
                pieces.append(piece)
                yield piece
            outcome = {"finish_reason": "stop"}
        except LlmError as exc:
            outcome = {"error": exc.kind}
            raise
        finally:
            await close_stream(inner)
            self._response(request, started, text="".join(pieces), **outcome)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _message(m: ChatMessage) -> dict[str, JsonValue]:
    """A prompt message for the audit record. A system prompt is the same for every turn
    of a deployment and language (it comes from kefu/llm/prompts/ and the flow files), so
    the record keeps its sha256 and length, not thousands of characters per call."""
    if m.role == "system":
        digest = hashlib.sha256(m.content.encode("utf-8")).hexdigest()
        return {"role": m.role, "sha256": digest, "chars": len(m.content)}
    return {"role": m.role, "content": m.content}


def _recorder(audit: AuditLog) -> AfterHook:
    async def record(action_name: str, ctx: ActionContext, result: ActionResult) -> None:
        payload: dict[str, JsonValue] = {
            "action": action_name,
            "status": result.status,
            "idempotency_key": ctx.idempotency_key,
            "params": dict(ctx.params),
            "slots": {k: v for k, v in ctx.slots.items() if not k.startswith("_")},
            "result": result.data,
        }
        await audit.record(
            "shop.write",
            tenant=ctx.tenant,
            actor=f"session:{ctx.session_id}",
            subject=_customer(ctx),
            payload=payload,
        )

    return record


def _customer(ctx: ActionContext) -> str | None:
    """The customer a write is for: verified in the chat, or the channel's login."""
    verified = ctx.slots.get("verified_user_id")
    return verified if isinstance(verified, str) and verified else ctx.user_id


def audit_writes(registry: ActionRegistry, audit: AuditLog, names: Iterable[str]) -> None:
    """Record each call of the registered writing actions among `names` (after the call,
    outside its time limit, before the flow goes on)."""
    record = _recorder(audit)
    for name in names:
        if registry.get(name) is not None:
            registry.after(name, record)


class AdminAuditMiddleware:
    """Records admin API calls that change something (`/v1/admin/...`, not GET/HEAD)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not str(scope.get("path", "")).startswith("/v1/admin/")
            or scope.get("method") in SAFE_METHODS
        ):
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            await self._record(scope, status)

    @staticmethod
    async def _record(scope: Scope, status: int) -> None:
        app: Any = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        audit = getattr(services, "audit", None)
        if not isinstance(audit, AuditLog):
            return
        state: Any = scope.get("state") or {}
        staff = state.get("staff") if isinstance(state, dict) else None
        tenant = getattr(staff, "tenant", "default")
        who = getattr(staff, "name", "") or getattr(staff, "role", "anonymous")
        payload: dict[str, JsonValue] = {
            "method": str(scope.get("method")),
            "path": str(scope.get("path")),
            "query": bytes(scope.get("query_string", b"")).decode("latin-1")[:500],
            "status": status,
        }
        await audit.record("admin.action", tenant=tenant, actor=f"staff:{who}", payload=payload)
