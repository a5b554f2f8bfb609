"""Test doubles for the commerce connectors: scripted faults, recorded calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from kefu.commerce.base import ConnectorError
from kefu.commerce.memory import InMemoryOrderService
from kefu.dialogue.actions import ActionContext, ActionRegistry, ActionResult
from kefu.domain.commerce import Order

FaultMode = Literal["ok", "timeout", "error", "garbage"]


class FakeOrderService(InMemoryOrderService):
    """The demo orders, plus a switch that makes the back end hang or fail."""

    def __init__(self, orders: list[Order] | None = None) -> None:
        super().__init__(orders)
        self.mode: FaultMode = "ok"
        self.calls: list[str] = []

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        self.calls.append(order_id)
        if self.mode == "timeout":
            await asyncio.Event().wait()  # hangs until the action timeout cancels it
        if self.mode == "error":
            raise ConnectorError("HTTP 500 from the order back end")
        if self.mode == "garbage":
            raise ConnectorError("unparseable answer from the order back end")
        return await super().get_order(tenant, order_id)


@dataclass(slots=True)
class RecordedWrite:
    name: str
    idempotency_key: str
    slots: dict[str, object]


@dataclass(slots=True)
class FakeWriteActions:
    """A writing action for flow tests: records each write once per idempotency key."""

    writes: list[RecordedWrite] = field(default_factory=list)

    def register(self, registry: ActionRegistry) -> None:
        registry.register("fake_write", self.fake_write)

    async def fake_write(self, ctx: ActionContext) -> ActionResult:
        if any(w.idempotency_key == ctx.idempotency_key for w in self.writes):
            return ActionResult(status="ok", data={"duplicate": True})
        self.writes.append(RecordedWrite("fake_write", ctx.idempotency_key, dict(ctx.slots)))
        return ActionResult(status="ok", data={"written": len(self.writes)})
