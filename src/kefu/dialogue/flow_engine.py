"""The flow engine: runs YAML flows as finite-state machines over a stack of frames.

One turn: the customer's message either feeds the step the top flow waits at (a slot value,
a yes/no), corrects an earlier slot, stops the flow, or starts another flow on top of it (a
digression); when a flow ends, the one below resumes where it waited.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kefu.dialogue.actions import VALIDATORS, ActionContext, ActionRegistry
from kefu.dialogue.choices import build_choices, match_choices
from kefu.dialogue.flow_model import (
    END,
    Flow,
    FlowRegistry,
    Step,
    Transition,
    render,
    resolve,
    set_value,
)
from kefu.dialogue.render import answer_replies, ask_replies, confirm_reply
from kefu.dialogue.texts import text
from kefu.dialogue.tracker import Frame, Tracker
from kefu.domain.events import (
    ActionExecuted,
    FlowEnded,
    FlowStarted,
    FlowStepped,
    HandoffRequested,
    SlotSet,
)
from kefu.domain.replies import Option, OptionsReply, Reply, TextReply
from kefu.domain.types import JsonValue
from kefu.nlu.base import NluResult
from kefu.nlu.normalize import normalize
from kefu.nlu.pipeline import message_length

log = logging.getLogger(__name__)

HANDOFF = "handoff"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnInput:
    text: str
    nlu: NluResult
    payload: dict[str, JsonValue] | None = None  # from a button click (server-side copy)


@dataclass(slots=True, kw_only=True)
class TurnOutput:
    replies: list[Reply] = field(default_factory=list)
    handoff: HandoffRequested | None = None

    def say(self, reply: Reply) -> None:
        self.replies.append(reply)


class FlowEngine:
    def __init__(
        self,
        flows: FlowRegistry,
        actions: ActionRegistry,
        *,
        intent_threshold: float = 0.6,
        max_steps: int = 50,
        trust_user_id: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._trust_user_id = trust_user_id
        self.flows = flows
        self._actions = actions
        self._threshold = intent_threshold
        self._max_steps = max_steps
        self._clock = clock

    async def handle(self, tracker: Tracker, turn: TurnInput) -> TurnOutput:
        out = TurnOutput()
        frame = tracker.state.active
        if frame is None:
            await self._handle_idle(tracker, turn, out)
            return out
        flow = self.flows.get(frame.flow)
        if flow is None:  # a flow removed since the session started
            self._end(tracker, frame, "failed")
            await self._handle_idle(tracker, turn, out)
            return out
        target = self._flow_for(turn)
        if "stop" in turn.nlu.acts and (target is None or target.name == flow.name):
            await self._stop_top(tracker, flow, frame, out)
            return out
        if await self._feed(tracker, flow, frame, turn, out):
            return out
        if target is not None and target.name != flow.name and target.interrupts:
            await self._start(tracker, target, turn, out)
            return out
        await self._reask(tracker, flow, frame, out)
        return out

    async def _handle_idle(self, tracker: Tracker, turn: TurnInput, out: TurnOutput) -> None:
        redo = self._correction_target(tracker, turn)
        target = redo or self._flow_for(turn)
        if target is not None:
            await self._start(tracker, target, turn, out)
        elif "stop" in turn.nlu.acts:
            out.say(TextReply(text=text("nothing_to_cancel", tracker.state.lang)))

    def _correction_target(self, tracker: Tracker, turn: TurnInput) -> Flow | None:
        """After a flow finished, '不对，订单号是…' re-runs that flow with the new value."""
        name = tracker.state.last_completed_flow
        if "correct" not in turn.nlu.acts or name is None:
            return None
        flow = self.flows.get(name)
        if flow is None:
            return None
        for step in flow.steps:
            if step.collect is not None and turn.nlu.entity(step.entity or step.collect):
                return flow
        return None

    def claims(self, tracker: Tracker, turn: TurnInput) -> bool:
        """Whether the flow engine answers this turn (else knowledge / fallback do)."""
        return (
            bool(tracker.state.flow_stack)
            or self._flow_for(turn) is not None
            or "stop" in turn.nlu.acts
            or self._correction_target(tracker, turn) is not None
        )

    def _flow_for(self, turn: TurnInput) -> Flow | None:
        if turn.nlu.confidence < self._threshold:
            return None
        return self.flows.for_intent(turn.nlu.intent)

    # -- feeding the waiting step ----------------------------------------------------------

    async def _feed(
        self, tracker: Tracker, flow: Flow, frame: Frame, turn: TurnInput, out: TurnOutput
    ) -> bool:
        """Try to use the message at the step the flow waits at. True when consumed."""
        step = flow.step(frame.step)
        if await self._try_correct(tracker, flow, frame, turn, out):
            return True
        if step.kind == "collect":
            value = self._slot_value(tracker, step, turn, own_flow=flow)
            if value is None:
                return False
            return await self._fill(tracker, flow, frame, step, value, out)
        if step.kind == "confirm":
            yes = _payload_bool(turn.payload, "confirm")
            if yes is None and "affirm" in turn.nlu.acts:
                yes = True
            elif yes is None and "deny" in turn.nlu.acts:
                yes = False
            if yes is None:
                return False
            nxt = self._next(tracker, flow, step) if yes else (step.on_no or END)
            if not yes and step.on_no is None:
                out.say(TextReply(text=text("declined", tracker.state.lang)))
                self._end(tracker, frame, "declined")
                await self._resume(tracker, out)
                return True
            await self._advance(tracker, flow, frame, nxt, out)
            return True
        return False

    def _slot_value(
        self, tracker: Tracker, step: Step, turn: TurnInput, *, own_flow: Flow
    ) -> JsonValue:
        """The value the message gives the step's slot, or None."""
        slot = step.collect or ""
        etype = step.entity or slot
        choices = (
            build_choices(step, tracker.state.slots, tracker.state.lang)
            if step.options_from
            else []
        )
        allowed = [c.value for c in choices]
        if turn.payload is not None:
            picked = _from_payload(turn.payload, slot, etype, multi=step.multi)
            if picked is not None:
                return picked if _allowed(picked, allowed) else None
        ent = turn.nlu.entity(etype)
        if ent is not None:
            # A typed id need not be among the buttons: the flow's lookup says whether it
            # exists and is the customer's, which tells them more than a re-ask.
            return [ent.value] if step.multi else ent.value
        if choices:
            matched = match_choices(turn.text, choices, multi=step.multi)
            if matched:
                return [c.value for c in matched] if step.multi else matched[0].value
            return None
        if step.from_text:
            # A free-text answer ("159 Hickory Lane", "Aarav Lee 85025") is the answer unless
            # a rule or a button says it starts another flow; a classifier's guess on such
            # fragments is not enough to take the customer elsewhere.
            other = self._flow_for(turn)
            sure = turn.nlu.stage in ("rule", "button")
            if other is None or other.name == own_flow.name or not sure:
                return turn.text.strip() or None
        return None

    async def _fill(
        self,
        tracker: Tracker,
        flow: Flow,
        frame: Frame,
        step: Step,
        raw: JsonValue,
        out: TurnOutput,
    ) -> bool:
        value: JsonValue = raw
        if step.validate_with is not None and isinstance(raw, str):
            validator = VALIDATORS.get(step.validate_with)
            value = validator(raw) if validator else raw
        if value is None:
            await self._reask(tracker, flow, frame, out)
            return True
        tracker.record(SlotSet(ts=self._clock(), name=step.collect or "", value=value))
        await self._advance(tracker, flow, frame, self._next(tracker, flow, step), out)
        return True

    async def _try_correct(
        self, tracker: Tracker, flow: Flow, frame: Frame, turn: TurnInput, out: TurnOutput
    ) -> bool:
        """'不对，订单号是…': replace an earlier slot and re-run the flow from after it."""
        current = flow.step(frame.step)
        for step in flow.steps:
            if step.id == frame.step:
                break
            if step.collect is None or step.collect not in tracker.state.slots:
                continue
            ent = turn.nlu.entity(step.entity or step.collect)
            if ent is None or ent.value == tracker.state.slots.get(step.collect):
                continue
            same_type = current.kind == "collect" and (current.entity or current.collect) == (
                step.entity or step.collect
            )
            if "correct" not in turn.nlu.acts and same_type:
                continue
            log.info("dialogue.slot_corrected flow=%s slot=%s", flow.name, step.collect)
            tracker.record(SlotSet(ts=self._clock(), name=step.collect, value=ent.value))
            await self._advance(tracker, flow, frame, self._next(tracker, flow, step), out)
            return True
        return False

    # -- starting, stopping, resuming ------------------------------------------------------

    async def _start(self, tracker: Tracker, flow: Flow, turn: TurnInput, out: TurnOutput) -> None:
        now = self._clock()
        frame_id = f"{flow.name}-{uuid.uuid4().hex[:8]}"
        first = flow.steps[0].id
        tracker.record(FlowStarted(ts=now, flow=flow.name, frame_id=frame_id, step=first))
        for step in flow.steps:
            if step.collect is None:
                continue
            value = None
            ent = turn.nlu.entity(step.entity or step.collect)
            if ent is not None:
                value = ent.value
            elif turn.payload is not None and step.collect in turn.payload:
                value = str(turn.payload[step.collect])
            elif (
                step.prefill_text
                and turn.payload is None
                and turn.text.strip()
                and message_length(normalize(turn.text)) >= step.prefill_min
            ):
                value = turn.text.strip()
            if value is not None:
                tracker.record(SlotSet(ts=now, name=step.collect, value=value))
            elif not step.reuse and step.collect in tracker.state.slots:
                tracker.record(SlotSet(ts=now, name=step.collect, value=None))
        frame = tracker.state.active
        assert frame is not None and frame.frame_id == frame_id
        await self._advance(tracker, flow, frame, first, out)

    async def _stop_top(self, tracker: Tracker, flow: Flow, frame: Frame, out: TurnOutput) -> None:
        lang = tracker.state.lang
        out.say(TextReply(text=text("cancelled", lang, flow=flow.title_in(lang))))
        self._end(tracker, frame, "cancelled")
        await self._resume(tracker, out)

    async def _resume(self, tracker: Tracker, out: TurnOutput) -> None:
        frame = tracker.state.active
        if frame is None:
            return
        flow = self.flows.get(frame.flow)
        if flow is None:
            self._end(tracker, frame, "failed")
            return
        lang = tracker.state.lang
        step = flow.step(frame.step)
        if step.kind in ("collect", "confirm"):  # it was interrupted while waiting
            out.say(TextReply(text=text("resume", lang, flow=flow.title_in(lang))))
        await self._advance(tracker, flow, frame, frame.step, out)

    def _end(self, tracker: Tracker, frame: Frame, outcome: str) -> None:
        tracker.record(
            FlowEnded(ts=self._clock(), frame_id=frame.frame_id, flow=frame.flow, outcome=outcome)
        )

    async def _reask(self, tracker: Tracker, flow: Flow, frame: Frame, out: TurnOutput) -> None:
        step = flow.step(frame.step)
        lang = tracker.state.lang
        retries = frame.retries + 1
        if retries > step.max_retries:
            if step.on_fail is not None and step.on_fail != HANDOFF:
                await self._advance(tracker, flow, frame, step.on_fail, out)
                return
            out.say(
                OptionsReply(
                    text=text("too_many_retries", lang),
                    options=(
                        Option(
                            id="retry-human",
                            label=text("human", lang),
                            payload={"intent": "human_agent"},
                        ),
                    ),
                )
            )
            self._end(tracker, frame, "failed")
            await self._resume(tracker, out)
            return
        tracker.record(
            FlowStepped(ts=self._clock(), frame_id=frame.frame_id, step=step.id, retries=retries)
        )
        if step.kind == "confirm":
            out.say(TextReply(text=text("confirm_reask", lang)))
            self._say_confirm(tracker, frame, step, out)
            return
        reask = step.reask.get(lang) if step.reask else text("reask_default", lang)
        out.say(TextReply(text=render(reask, tracker.state.slots)))
        self._say_ask(tracker, step, out)

    # -- running steps ---------------------------------------------------------------------

    async def _advance(
        self, tracker: Tracker, flow: Flow, frame: Frame, step_id: str, out: TurnOutput
    ) -> None:
        """Run steps from `step_id` until the flow waits for the customer or ends."""
        for _ in range(self._max_steps):
            if step_id == END:
                self._end(tracker, frame, "completed")
                await self._resume(tracker, out)
                return
            if step_id == HANDOFF:
                self._handoff(tracker, frame, None, out)
                return
            step = flow.step(step_id)
            nxt = await self._run_step(tracker, flow, frame, step, out)
            if nxt is None:
                return
            step_id = nxt
        log.error("dialogue.flow_loop flow=%s step=%s", flow.name, step_id)
        out.say(TextReply(text=text("internal_error", tracker.state.lang)))
        self._end(tracker, frame, "failed")

    async def _run_step(
        self, tracker: Tracker, flow: Flow, frame: Frame, step: Step, out: TurnOutput
    ) -> str | None:
        """Execute one step; the id of the next one, or None when the flow now waits/ended."""
        kind = step.kind
        state = tracker.state
        if kind == "collect":
            if step.collect in state.slots:
                return self._next(tracker, flow, step)
            self._wait(tracker, frame, step)
            self._say_ask(tracker, step, out, first=True)
            return None
        if kind == "confirm":
            self._wait(tracker, frame, step)
            self._say_confirm(tracker, frame, step, out)
            return None
        if kind == "action":
            status = await self._run_action(tracker, frame, step)
            if status == "error" and not _handles_error(step):
                out.say(TextReply(text=text("action_error", state.lang)))
                self._end(tracker, frame, "failed")
                await self._resume(tracker, out)
                return None
        elif kind == "answer":
            self._say_answer(tracker, step, out)
        elif kind == "handoff":
            self._handoff(tracker, frame, step, out)
            return None
        elif kind == "call":
            return await self._call(tracker, flow, frame, step, out)
        elif kind == "set":
            for name, value in (step.set or {}).items():
                tracker.record(
                    SlotSet(ts=self._clock(), name=name, value=set_value(value, state.slots))
                )
        elif kind == "end":
            self._say_answer(tracker, step, out)
            return END
        return self._next(tracker, flow, step)

    async def _run_action(self, tracker: Tracker, frame: Frame, step: Step) -> str:
        state = tracker.state
        name = step.action or ""
        ctx = ActionContext(
            session_id=state.session_id,
            tenant=state.tenant,
            user_id=state.user_id,
            # Only a channel configured to pass logged-in users vouches for user_id; a
            # customer verified in the conversation is the slot verified_user_id instead.
            user_verified=self._trust_user_id and state.user_id is not None,
            lang=state.lang,
            slots=dict(state.slots),
            idempotency_key=f"{state.session_id}:{frame.frame_id}:{step.id}:{state.seq}",
            params=step.with_,
            transcript=tuple((h.role, h.text) for h in state.history[-50:]),
        )
        result = await self._actions.run(name, ctx)
        tracker.record(
            ActionExecuted(
                ts=self._clock(),
                name=name,
                status=result.status,
                data=result.data,
                idempotency_key=ctx.idempotency_key,
            )
        )
        if step.result_slot is not None:
            tracker.record(SlotSet(ts=self._clock(), name=step.result_slot, value=result.data))
        for slot, field_name in step.save.items():
            if field_name in result.data:
                tracker.record(SlotSet(ts=self._clock(), name=slot, value=result.data[field_name]))
        return result.status

    async def _call(
        self, tracker: Tracker, flow: Flow, frame: Frame, step: Step, out: TurnOutput
    ) -> str | None:
        """Push the called flow; this frame continues after the call when it ends."""
        target = self.flows.get(step.call or "")
        if target is None:
            return self._next(tracker, flow, step)
        after = self._next(tracker, flow, step)
        if after == END:
            self._end(tracker, frame, "completed")
        else:
            tracker.record(FlowStepped(ts=self._clock(), frame_id=frame.frame_id, step=after))
        now = self._clock()
        frame_id = f"{target.name}-{uuid.uuid4().hex[:8]}"
        first = target.steps[0].id
        tracker.record(FlowStarted(ts=now, flow=target.name, frame_id=frame_id, step=first))
        sub = tracker.state.active
        assert sub is not None and sub.frame_id == frame_id
        await self._advance(tracker, target, sub, first, out)
        return None

    def _wait(self, tracker: Tracker, frame: Frame, step: Step) -> None:
        if frame.step != step.id or frame.retries:
            tracker.record(FlowStepped(ts=self._clock(), frame_id=frame.frame_id, step=step.id))

    def _say_ask(
        self, tracker: Tracker, step: Step, out: TurnOutput, *, first: bool = False
    ) -> None:
        out.replies += ask_replies(tracker.state, step, first=first)

    def _say_confirm(self, tracker: Tracker, frame: Frame, step: Step, out: TurnOutput) -> None:
        out.say(confirm_reply(tracker.state, frame.frame_id, step))

    def _say_answer(self, tracker: Tracker, step: Step, out: TurnOutput) -> None:
        out.replies += answer_replies(tracker.state, step)

    def _handoff(self, tracker: Tracker, frame: Frame, step: Step | None, out: TurnOutput) -> None:
        lang = tracker.state.lang
        msg = step.handoff.get(lang) if step and step.handoff else text("handoff", lang)
        out.say(TextReply(text=render(msg, tracker.state.slots)))
        ticket = resolve("ticket.ticket_id", tracker.state.slots)
        event = HandoffRequested(
            ts=self._clock(),
            reason=frame.flow,
            queue=step.queue if step else "default",
            ticket_id=str(ticket) if ticket is not None else None,
        )
        tracker.record(event)
        out.handoff = event
        for f in reversed(list(tracker.state.flow_stack)):
            self._end(tracker, f, "handed_off")

    def _next(self, tracker: Tracker, flow: Flow, step: Step) -> str:
        if isinstance(step.next, str):
            return step.next
        if isinstance(step.next, list):
            for t in step.next:
                if self._holds(tracker, t):
                    return t.goto
        return flow.following(step.id)

    def _holds(self, tracker: Tracker, t: Transition) -> bool:
        cond = t.if_
        if cond is None:
            return True
        state = tracker.state
        if cond.result is not None:
            return state.last_action is not None and state.last_action.status == cond.result
        value = resolve(cond.slot or "", state.slots)
        if cond.is_set is not None:
            return (value is not None) == cond.is_set
        if cond.in_ is not None:
            return value in cond.in_
        return value == cond.equals


def _from_payload(
    payload: dict[str, JsonValue], slot: str, etype: str, *, multi: bool
) -> JsonValue:
    """A slot value from a button payload: {slot: v}, or {"selected": [{slot: v}, ...]}."""
    if multi and isinstance(payload.get("selected"), list):
        values: list[JsonValue] = []
        for item in payload["selected"]:  # type: ignore[union-attr]
            if not isinstance(item, dict) or item.get(slot) is None:
                return None
            values.append(item[slot])
        return values or None
    v = payload.get(slot, payload.get(etype))
    if v is None:
        return None
    return [v] if multi else v


def _allowed(value: JsonValue, allowed: list[JsonValue]) -> bool:
    if not allowed:
        return True
    if isinstance(value, list):
        return all(v in allowed for v in value)
    return value in allowed


def _handles_error(step: Step) -> bool:
    """Whether an action step's transitions say where to go when the action failed."""
    if not isinstance(step.next, list):
        return False
    return any(t.if_ is None or t.if_.result == "error" for t in step.next)


def _payload_bool(payload: dict[str, JsonValue] | None, key: str) -> bool | None:
    if payload is None or key not in payload:
        return None
    v = payload[key]
    return v if isinstance(v, bool) else None
