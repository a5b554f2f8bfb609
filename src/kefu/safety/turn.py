"""The guards as one turn sees them: check the customer's message before anything acts on
it, and check what the LLM wrote before it is sent.

`InputGuard` and `OutputGuard` (kefu.safety.guards) hold read-only example vectors, so one
pair per process and embedder serves every app and tenant; metrics are counted here, on
the app's own registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TypeVar

from prometheus_client import CollectorRegistry

from kefu.nlu.base import Embedder
from kefu.safety.guards import (
    GuardMetrics,
    GuardVerdict,
    InputGuard,
    OutputGuard,
    load_output_policy,
    refusal_text,
)
from kefu.safety.pii import default_detector
from kefu.safety.settings import SafetySettings

G = TypeVar("G", InputGuard, OutputGuard)
PROMPT_FILES = ("command.zh.txt", "command.en.txt", "answer.zh.txt", "answer.en.txt")


def _prompt_texts() -> list[str]:
    base = resources.files("kefu.llm").joinpath("prompts")
    return [base.joinpath(name).read_text("utf-8") for name in PROMPT_FILES]


_GUARDS: dict[tuple[object, ...], tuple[Embedder | None, InputGuard | OutputGuard]] = {}
_GUARDS_LOCK = threading.Lock()


def _shared(key: tuple[object, ...], embedder: Embedder | None, make: Callable[[], G]) -> G:
    """One warmed-up guard per process, embedder and configuration."""
    with _GUARDS_LOCK:
        found = _GUARDS.get(key)
        if found is None:
            guard = make()
            guard.warm_up()
            _GUARDS[key] = (embedder, guard)  # the embedder is kept alive with its key
            return guard
    return found[1]  # type: ignore[return-value]


def _input_guard(embedder: Embedder | None) -> InputGuard:
    return _shared(("in", id(embedder)), embedder, lambda: InputGuard(embedder=embedder))


def _output_guard(
    embedder: Embedder | None,
    competitors: tuple[str, ...],
    allowed: tuple[str, ...],
    public: tuple[str, ...],
) -> OutputGuard:
    def make() -> OutputGuard:
        policy = load_output_policy(
            extra_keywords={"competitor": list(competitors)} if competitors else None,
            allowed_phrases=allowed,
        )
        return OutputGuard(
            policy=policy, secret_texts=_prompt_texts(), public_values=public, embedder=embedder
        )

    return _shared(("out", id(embedder), competitors, allowed, public), embedder, make)


def _pii_pairs(text: str) -> list[tuple[str, str]]:
    return [(str(s.type), s.value) for s in default_detector().find(text)]


class TurnGuards:
    """The input and output guard of the dialogue manager."""

    def __init__(
        self,
        settings: SafetySettings,
        *,
        embedder: Embedder | None,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self.metrics = GuardMetrics(registry)

    def warm_up(self) -> None:
        """Embed the guards' examples now (about a second, once per process)."""
        self._input()
        self._output()

    def _input(self) -> InputGuard:
        return _input_guard(self._embedder)

    def _output(self) -> OutputGuard:
        s = self.settings
        return _output_guard(
            self._embedder,
            tuple(s.competitors),
            tuple(s.allowed_phrases),
            tuple(s.public_values),
        )

    def check_message(self, text: str, *, lang: str, semantic: bool) -> GuardVerdict | None:
        """None when the message may go on; else the verdict that stops it. `semantic`:
        also compare it with known attacks (the sentence vector comes from the encoder's
        cache when NLU's classifier embedded the message already)."""
        if not self.settings.input_guard:
            return None
        started = time.perf_counter()
        verdict = self._input().check(text, lang=lang, semantic=semantic)
        self.metrics.observe("input", verdict, time.perf_counter() - started)
        return None if verdict.allowed else verdict

    @staticmethod
    def refusal(verdict: GuardVerdict, lang: str) -> str:
        return refusal_text(verdict.category, lang)

    def check_reply(self, text: str, *, lang: str, customer_texts: Sequence[str]) -> str:
        """What to send instead of an LLM-written `text`: itself when it passes, with leaked
        personal data hidden, or a calm refusal. Personal data the customer wrote in this
        session (`customer_texts`) may be repeated back."""
        if not self.settings.output_guard:
            return text
        started = time.perf_counter()
        allowed = {value for t in customer_texts for _, value in _pii_pairs(t)}
        guard = self._output()
        verdict = guard.check(text, lang=lang, allowed_values=allowed, pii_find=_pii_pairs)
        out = text
        if not verdict.allowed:
            out = guard.redact(text, lang=lang, allowed_values=allowed, pii_find=_pii_pairs)
        self.metrics.observe("output", verdict, time.perf_counter() - started)
        return out

    def stream_check(self, *, lang: str, customer_texts: Sequence[str]) -> Callable[[str], bool]:
        """A check for text the LLM is still writing: keywords, PII and prompt leaks (the
        semantic check runs once, on the whole reply). False stops the stream."""
        allowed = {value for t in customer_texts for _, value in _pii_pairs(t)}
        guard = self._output()

        def ok(text: str) -> bool:
            if not self.settings.output_guard:
                return True
            verdict = guard.check(
                text, lang=lang, allowed_values=allowed, pii_find=_pii_pairs, semantic=False
            )
            if not verdict.allowed:
                self.metrics.observe("output", verdict, 0.0)
            return verdict.allowed

        return ok
