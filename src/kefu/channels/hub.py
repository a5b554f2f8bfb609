"""Open WebSocket connections by session and by customer, so a server can push to them.

A push for a customer with no open connection is kept (a bounded number per customer) and
delivered when one of their connections next attaches. Kept pushes live in this process
only; the facts behind them (e.g. tracking events) are in the shop store either way.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict, deque
from typing import Protocol

from kefu.domain.types import JsonValue

KEEP_PER_CUSTOMER = 20


class FrameSink(Protocol):
    async def send_frame(self, frame: dict[str, JsonValue]) -> None: ...


class ConnectionHub:
    def __init__(self, *, keep_per_customer: int = KEEP_PER_CUSTOMER) -> None:
        self._by_key: dict[str, set[FrameSink]] = defaultdict(set)
        self._kept: dict[str, deque[dict[str, JsonValue]]] = {}
        self._keep = keep_per_customer

    def attach(self, key: str, sink: FrameSink) -> None:
        self._by_key[key].add(sink)

    def detach(self, key: str, sink: FrameSink) -> None:
        sinks = self._by_key.get(key)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._by_key[key]

    async def attach_customer(self, key: str, sink: FrameSink) -> int:
        """Attach under a customer key and deliver what was kept for them; how many."""
        self.attach(key, sink)
        kept = self._kept.pop(key, None)
        sent = 0
        for frame in kept or ():
            with contextlib.suppress(Exception):
                await sink.send_frame(frame)
                sent += 1
        return sent

    async def push(self, key: str, frame: dict[str, JsonValue], *, keep: bool = False) -> int:
        """Send a frame to every open connection under `key`; how many got it. With
        `keep`, a frame nobody received waits for the customer's next connection."""
        sent = 0
        for sink in list(self._by_key.get(key, ())):
            with contextlib.suppress(Exception):
                await sink.send_frame(frame)
                sent += 1
        if sent == 0 and keep:
            self._kept.setdefault(key, deque(maxlen=self._keep)).append(frame)
        return sent

    def kept(self, key: str) -> int:
        return len(self._kept.get(key, ()))


def session_key(tenant: str, session_id: str) -> str:
    return f"{tenant}:s:{session_id}"


def customer_key(tenant: str, user_id: str) -> str:
    return f"{tenant}:u:{user_id}"
