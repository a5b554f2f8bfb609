"""Running NLU stage 2 inside a turn: build the command context from the dialogue state,
ask the command generator under a time limit, and turn the answer into a decision.

Any failure (model down, slow, circuit open, overloaded) yields None, and a model that
answered nothing usable a decision with route "none": either way the turn goes on exactly
as without an LLM (flows on stage 1's reading, knowledge, a clarifying
question, a human), so a model outage costs the customer at most `timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kefu.dialogue.tracker import DialogueState
from kefu.llm.base import LlmError
from kefu.llm.commands import (
    ActiveStep,
    CommandContext,
    CommandGenerator,
    Stage2Decision,
    decide,
)
from kefu.nlu.base import NluResult
from kefu.observability.metrics import Metrics
from kefu.safety.pii import PiiVault

log = logging.getLogger(__name__)


class StageTwo:
    def __init__(
        self,
        generator: CommandGenerator,
        *,
        timeout_s: float,
        history_turns: int,
        metrics: Metrics,
        mask_pii: bool = True,
    ) -> None:
        self.generator = generator
        self._timeout_s = timeout_s
        self._history_turns = history_turns
        self._metrics = metrics
        self._mask_pii = mask_pii

    def context(
        self, state: DialogueState, text: str, stage1: NluResult, lang: str
    ) -> CommandContext:
        # The current message is the last history item already; the model gets it apart.
        past = state.llm_history(self._history_turns + 1)[:-1]
        # Personal data reaches the model as placeholders ([PHONE_1]); one vault per turn
        # keeps them consistent across the prompt and turns the model's values back.
        vault = PiiVault() if self._mask_pii else None
        mask = vault.mask if vault is not None else _same
        return CommandContext(
            lang=lang,
            message=mask(text),
            original=text,
            history=tuple((h.role, mask(h.text)) for h in past),
            active=self._active(state),
            stage1=stage1,
            unmask=vault.unmask if vault is not None else _same,
        )

    async def decide(
        self, state: DialogueState, text: str, stage1: NluResult, lang: str
    ) -> Stage2Decision | None:
        ctx = self.context(state, text, stage1, lang)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                commands = await self.generator.generate(ctx)
        except TimeoutError:
            self._count("timeout", started)
            log.warning("nlu.stage2_timeout after_s=%.2f", self._timeout_s)
            return None
        except LlmError as exc:
            self._count(exc.kind, started)
            log.warning("nlu.stage2_failed kind=%s", exc.kind)
            return None
        decision = decide(commands, ctx, self.generator.catalog)
        self._count(decision.route, started)
        return decision

    def _count(self, outcome: str, started: float) -> None:
        self._metrics.stage2.labels(outcome=outcome).inc()
        self._metrics.stage2_seconds.observe(time.perf_counter() - started)

    def _active(self, state: DialogueState) -> ActiveStep | None:
        frame = state.active
        if frame is None:
            return None
        flow = self.generator.catalog.flow(frame.flow)
        if flow is None:
            return None
        try:
            step = flow.step(frame.step)
        except KeyError:
            return None
        collects = step.kind == "collect" and step.collect is not None
        options = {
            label: dict(state.offered_options[oid])
            for oid, label in state.offered_labels.items()
            if oid in state.offered_options
        }
        filled = tuple(s for s in dict.fromkeys(flow.collected_slots()) if state.slots.get(s))
        return ActiveStep(
            flow=flow.name,
            step=step.id,
            slot=step.collect if collects else None,
            entity=(step.entity or step.collect) if collects else None,
            options=options,
            filled=filled,
        )


def _same(text: str) -> str:
    return text
