"""Open WebSocket connections by session, so a server can push to a customer."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Protocol

from kefu.domain.types import JsonValue


class FrameSink(Protocol):
    async def send_frame(self, frame: dict[str, JsonValue]) -> None: ...


class ConnectionHub:
    def __init__(self) -> None:
        self._by_session: dict[str, set[FrameSink]] = defaultdict(set)

    def attach(self, key: str, sink: FrameSink) -> None:
        self._by_session[key].add(sink)

    def detach(self, key: str, sink: FrameSink) -> None:
        sinks = self._by_session.get(key)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self._by_session[key]

    async def push(self, key: str, frame: dict[str, JsonValue]) -> int:
        """Send a frame to every open connection of the session; how many got it."""
        sent = 0
        for sink in list(self._by_session.get(key, ())):
            with contextlib.suppress(Exception):
                await sink.send_frame(frame)
                sent += 1
        return sent
