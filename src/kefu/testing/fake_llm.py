"""A scripted chat model for tests: canned or computed replies, delays, faults, and a
record of every request."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence

from kefu.llm.base import LlmError, LlmRequest, LlmResponse, Responder, Usage

# One scripted reply: its text, or an error to raise (an instance, or a class to instantiate).
Reply = str | LlmError | type[LlmError]
Failure = LlmError | type[LlmError]

# CJK radicals, punctuation, kana, ideographs and full-width forms: a piece per character.
_CJK = r"\u2e80-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_PIECE = re.compile(rf"\s+|[{_CJK}]\s*|[^\s{_CJK}]+\s*")


def split_pieces(text: str) -> list[str]:
    """Stream pieces of `text`: one per word (with the spaces after it), one per CJK
    character or full-width sign. The pieces join back to `text`."""
    return _PIECE.findall(text)


class FakeChatModel:
    """A `ChatModel` that answers from a script, without a network.

    `script`: a `Responder` (request -> text), one text for every call, or a list of
    replies used in order (a text, or an `LlmError` instance or class to raise; running
    past the end raises `AssertionError`). `delay_s`: time before `complete` answers;
    `ttft_s`: before a stream's first piece (default `delay_s`); `piece_delay_s`: between
    pieces. `gate`: when set, calls wait for this event before answering. `fail_with`:
    when set, calls raise it instead (a stream after the first `fail_after_pieces` pieces of
    its reply).

    Records: `requests` (every request, in order), `calls`, `cancelled` (calls cancelled or
    streams closed before their end), `in_flight` / `max_in_flight`, `closed`. Usage counts
    pieces: prompt tokens over the messages' text, completion tokens over the reply.
    """

    def __init__(
        self,
        script: Responder | str | Sequence[Reply] = "好的",
        *,
        name: str = "fake-llm",
        delay_s: float = 0.0,
        ttft_s: float | None = None,
        piece_delay_s: float = 0.0,
        split: Callable[[str], list[str]] = split_pieces,
    ) -> None:
        self._name = name
        self._script = script
        self._next = 0
        self.delay_s = delay_s
        self.ttft_s = delay_s if ttft_s is None else ttft_s
        self.piece_delay_s = piece_delay_s
        self.split = split
        self.gate: asyncio.Event | None = None
        self.fail_with: Failure | None = None
        self.fail_after_pieces = 0
        self.requests: list[LlmRequest] = []
        self.calls = 0
        self.cancelled = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self._start(request)
        try:
            await self._wait(self.delay_s)
            if self.fail_with is not None:
                raise _error(self.fail_with)
            text = self._reply(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        prompt = sum(len(self.split(m.content)) for m in request.messages)
        usage = Usage(prompt_tokens=prompt, completion_tokens=len(self.split(text)))
        return LlmResponse(text=text, model=self.name, usage=usage)

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        self._start(request)
        try:
            await self._wait(self.ttft_s)
            failure = self.fail_with
            pieces: list[str] = []
            if failure is None or self.fail_after_pieces > 0:
                pieces = self.split(self._reply(request))
            if failure is not None:
                pieces = pieces[: self.fail_after_pieces]
            for i, piece in enumerate(pieces):
                if i > 0 and self.piece_delay_s > 0:
                    await asyncio.sleep(self.piece_delay_s)
                yield piece
            if failure is not None:
                raise _error(failure)
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True

    def _start(self, request: LlmRequest) -> None:
        self.requests.append(request)
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    async def _wait(self, delay_s: float) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    def _reply(self, request: LlmRequest) -> str:
        script = self._script
        if isinstance(script, str):
            return script
        if callable(script):
            return script(request)
        if self._next >= len(script):
            raise AssertionError(f"{self.name}: script of {len(script)} replies ran out")
        reply = script[self._next]
        self._next += 1
        if isinstance(reply, str):
            return reply
        raise _error(reply)


def _error(failure: Failure) -> LlmError:
    return failure if isinstance(failure, LlmError) else failure(f"scripted {failure.kind}")
