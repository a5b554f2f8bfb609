"""One turn of one session, from checked input to a stored reply.

The order is fixed: gateway checks -> session lock -> tracker (cache or store) -> NLU ->
flow engine / knowledge / fallback -> events committed -> reply returned. A reply is only
returned once its events are on disk, so an acknowledged turn survives a crash.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kefu.channels.ratelimit import KeyedRateLimiter
from kefu.dialogue.base import AppendBatch, SessionLocks, SessionRecord, StoreError, TrackerStore
from kefu.dialogue.flow_engine import FlowEngine, TurnInput, TurnOutput
from kefu.dialogue.locks import LockTimeout
from kefu.dialogue.texts import text
from kefu.dialogue.tracker import DialogueState, IntentState, Tracker, apply_event, replay
from kefu.domain.events import (
    BotUttered,
    HandoffRequested,
    IntentRecognized,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from kefu.domain.replies import Option, OptionsReply, Reply, TextReply
from kefu.domain.types import AnswerSource, JsonValue, SessionId, TenantId
from kefu.knowledge.base import KnowledgeAnswer, KnowledgeAnswerer, Source
from kefu.llm.commands import Stage2Decision
from kefu.llm.grounded import DeltaSink, GroundedAnswerer
from kefu.llm.stage2 import StageTwo
from kefu.nlu.base import OUT_OF_SCOPE, IntentRecognizer, NluResult
from kefu.nlu.clarify import IntentLabels, clarify_reply
from kefu.nlu.lang import detect_lang
from kefu.observability.context import TurnRef, current_turn
from kefu.observability.metrics import Metrics
from kefu.safety.guards import GuardVerdict
from kefu.safety.turn import TurnGuards
from kefu.settings import Settings

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ChatError(Exception):
    """A request kefu refuses, with a stable code and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonAction:
    id: str
    payload: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    tenant: TenantId
    session_id: str | None = None
    user_id: str | None = None
    channel: str = "web"
    text: str | None = None
    action: ButtonAction | None = None
    lang: str | None = None
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowInfo:
    name: str
    step: str
    expecting: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnResult:
    session_id: SessionId
    turn: int
    replies: list[dict[str, JsonValue]]
    intent: IntentState | None
    flow: FlowInfo | None
    slots: dict[str, JsonValue]
    sources: tuple[Source, ...]
    answer_source: str
    handoff: HandoffRequested | None


class DialogueManager:
    def __init__(
        self,
        *,
        settings: Settings,
        store: TrackerStore,
        locks: SessionLocks,
        nlu: IntentRecognizer,
        engine: FlowEngine,
        metrics: Metrics,
        knowledge: KnowledgeAnswerer | None = None,
        stage2: StageTwo | None = None,
        grounded: GroundedAnswerer | None = None,
        guards: TurnGuards | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._locks = locks
        self._nlu = nlu
        self._engine = engine
        self._metrics = metrics
        self._knowledge = knowledge
        self._stage2 = stage2
        self._grounded = grounded
        self._guards = guards
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], DialogueState] = OrderedDict()
        limits = settings.limits
        self._session_limiter = KeyedRateLimiter(limits.per_session_rate, limits.per_session_burst)
        self._labels = IntentLabels.default()

    # -- public API ------------------------------------------------------------------------

    async def handle(self, req: ChatRequest, *, on_delta: DeltaSink | None = None) -> TurnResult:
        """One turn. `on_delta` receives the pieces of an answer the LLM writes, as it writes
        them (the returned result still carries the whole, checked reply)."""
        started = time.perf_counter()
        try:
            self._check_input(req)
            result = await self._handle_checked(req, on_delta)
        except ChatError as exc:
            self._metrics.errors.labels(code=exc.code).inc()
            raise
        self._metrics.turns.labels(
            tenant=req.tenant, answer_source=result.answer_source, channel=req.channel
        ).inc()
        self._metrics.turn_seconds.labels(answer_source=result.answer_source).observe(
            time.perf_counter() - started
        )
        return result

    async def session_state(
        self, tenant: TenantId, session_id: str, *, user_id: str | None = None
    ) -> DialogueState:
        """The tracked state of a session, rebuilt from the store (the source of truth)."""
        _check_session_id(session_id)
        sid = SessionId(session_id)
        record = await self._get_record(tenant, sid)
        self._check_owner(record, user_id)
        events = await self._store.load(tenant, sid)
        return replay(sid, tenant, events, default_lang=self._settings.default_lang)

    async def check_session(
        self, tenant: TenantId, session_id: str, *, user_id: str | None = None
    ) -> None:
        """Raise ChatError unless the session exists and may be used by `user_id`."""
        _check_session_id(session_id)
        key = (tenant, session_id)
        cached = self._cache.get(key)
        if cached is not None:
            if user_id and cached.user_id and cached.user_id != user_id:
                raise ChatError("session_forbidden", "this session belongs to someone else", 403)
            return
        self._check_owner(await self._get_record(tenant, SessionId(session_id)), user_id)

    def forget(self, tenant: TenantId, session_id: str) -> None:
        """Drop a session's cached state (after it was erased from the store)."""
        self._cache.pop((tenant, SessionId(session_id)), None)

    # -- the turn --------------------------------------------------------------------------

    def _check_input(self, req: ChatRequest) -> None:
        if req.action is None:
            if req.text is None or not req.text.strip():
                raise ChatError("empty_text", "send some text or a button action", 422)
            if len(req.text) > self._settings.limits.max_text_chars:
                raise ChatError(
                    "text_too_long",
                    f"text is limited to {self._settings.limits.max_text_chars} characters",
                    413,
                )
        if req.session_id is not None:
            _check_session_id(req.session_id)
        if req.session_id is not None and not self._session_limiter.allow(
            f"{req.tenant}:{req.session_id}"
        ):
            raise ChatError("rate_limited", "too many messages in this session, slow down", 429)

    async def _handle_checked(self, req: ChatRequest, on_delta: DeltaSink | None) -> TurnResult:
        new = req.session_id is None
        sid = SessionId(req.session_id or uuid.uuid4().hex)
        key = f"{req.tenant}:{sid}"
        try:
            async with self._locks.hold(key):
                tracker, record = await self._open(req, sid, new=new)
                verified = tracker.state.slots.get("verified_user_id")
                ref = TurnRef(req.tenant, sid, verified if isinstance(verified, str) else None)
                token = current_turn.set(ref)
                try:
                    output, sources, source = await self._run_turn(tracker, req, on_delta)
                    result = self._result(tracker.state, output, sources, source)
                    await self._commit(tracker, record)
                except BaseException:
                    self._cache.pop((req.tenant, sid), None)  # rebuild from the store next time
                    raise
                finally:
                    current_turn.reset(token)
        except LockTimeout as exc:
            raise ChatError("session_busy", "this session is busy, try again", 503) from exc
        except StoreError as exc:
            log.error("dialogue.store_failed session=%s error=%s", sid, exc)
            raise ChatError("store_unavailable", "could not save the conversation", 503) from exc
        return result

    async def _open(
        self, req: ChatRequest, sid: SessionId, *, new: bool
    ) -> tuple[Tracker, SessionRecord | None]:
        now = self._clock()
        if new:
            state = DialogueState(
                session_id=sid, tenant=req.tenant, lang=self._settings.default_lang
            )
            tracker = Tracker(state)
            tracker.record(SessionStarted(ts=now, user_id=req.user_id, channel=req.channel))
            if req.user_id and self._settings.channels.trust_user_id:
                # The channel vouches for its logged-in customer: no verification needed.
                tracker.record(SlotSet(ts=now, name="verified_user_id", value=req.user_id))
            record = SessionRecord(
                tenant=req.tenant,
                session_id=sid,
                user_id=req.user_id,
                channel=req.channel,
                created_at=now,
                last_active=now,
            )
            self._remember(state)
            return tracker, record
        state = await self._load_state(req, sid)
        tracker = Tracker(state)
        if state.last_ts and now - state.last_ts > self._settings.session.idle_timeout_s:
            tracker.record(
                SessionStarted(ts=now, user_id=state.user_id, channel=req.channel, reason="expired")
            )
            if state.user_id and self._settings.channels.trust_user_id:
                tracker.record(SlotSet(ts=now, name="verified_user_id", value=state.user_id))
        return tracker, None

    async def _load_state(self, req: ChatRequest, sid: SessionId) -> DialogueState:
        key = (req.tenant, sid)
        state = self._cache.get(key)
        if state is None:
            record = await self._get_record(req.tenant, sid)
            self._check_owner(record, req.user_id)
            events = await self._store.load(req.tenant, sid)
            state = replay(sid, req.tenant, events, default_lang=self._settings.default_lang)
            state.user_id = record.user_id
        else:
            if req.user_id and state.user_id and state.user_id != req.user_id:
                raise ChatError("session_forbidden", "this session belongs to someone else", 403)
            if self._locks.distributed:  # another process may have written turns since
                for e in await self._store.load(req.tenant, sid, after_seq=state.seq - 1):
                    apply_event(state, e)
        self._remember(state)
        return state

    async def _run_turn(
        self, tracker: Tracker, req: ChatRequest, on_delta: DeltaSink | None
    ) -> tuple[TurnOutput, tuple[Source, ...], str]:
        state = tracker.state
        current = state.lang if state.turn > 0 else None
        detected = detect_lang(req.text, current=current) if req.text else None
        lang = req.lang or detected or state.lang
        if lang not in ("zh", "en"):
            lang = self._settings.default_lang
        turn, decision, blocked = await self._understand(tracker, req, lang)
        if blocked is not None and self._guards is not None:
            # Nothing acts on the message: no flow, no model. The reason stays in the logs.
            said: list[Reply] = [TextReply(text=self._guards.refusal(blocked, lang))]
            self._record_reply(tracker, req, said, AnswerSource.GUARD)
            return TurnOutput(replies=said), (), AnswerSource.GUARD
        route = decision.route if decision is not None else "none"
        model_ok = decision is None or not decision.model_failed
        faq_id = (turn.payload or {}).get("faq_id")
        if self._knowledge is not None and isinstance(faq_id, str):  # "did you mean" click
            picked = await self._knowledge.answer_entry(faq_id, lang=lang, tenant=state.tenant)
            if picked is not None:
                replies = list(picked.replies)
                self._record_reply(tracker, req, replies, picked.answer_source)
                return TurnOutput(replies=replies), picked.sources, picked.answer_source
        if decision is not None and route == "chitchat":
            said = [TextReply(text=self._checked(decision.reply, lang, state))]
            self._record_reply(tracker, req, said, AnswerSource.LLM)
            return TurnOutput(replies=said), (), AnswerSource.LLM
        if route not in ("kb", "clarify") and self._engine.claims(tracker, turn):
            output = await self._engine.handle(tracker, turn)
            if output.replies:
                self._record_reply(tracker, req, output.replies, AnswerSource.FLOW)
                if output.handoff is not None:
                    self._metrics.handoffs.labels(queue=output.handoff.queue).inc()
                return output, (), AnswerSource.FLOW
        if route != "clarify" and req.text:
            question = decision.query if decision is not None and route == "kb" else req.text
            answer = await self._answer(question, lang, state, on_delta, model_ok)
            if answer is not None:
                replies = list(answer.replies)
                if answer.answer_source == AnswerSource.LLM:
                    replies = [
                        TextReply(text=self._checked(r.text, lang, state))
                        if isinstance(r, TextReply)
                        else r
                        for r in replies
                    ]
                self._record_reply(tracker, req, replies, answer.answer_source)
                return TurnOutput(replies=replies), answer.sources, answer.answer_source
        clarify = clarify_reply(turn.nlu, lang=lang, labels=self._labels)
        replies = [clarify] if clarify is not None else self._fallback(lang)
        self._record_reply(tracker, req, replies, AnswerSource.FALLBACK)
        return TurnOutput(replies=replies), (), AnswerSource.FALLBACK

    def _checked(self, text_out: str, lang: str, state: DialogueState) -> str:
        """An LLM-written text as it may be sent (the output guard)."""
        if self._guards is None:
            return text_out
        said = _customer_texts(state)
        return self._guards.check_reply(text_out, lang=lang, customer_texts=said)

    async def _answer(
        self,
        question: str,
        lang: str,
        state: DialogueState,
        on_delta: DeltaSink | None,
        model_ok: bool,
    ) -> KnowledgeAnswer | None:
        tenant = state.tenant
        # A model that just failed this turn is not asked again: one timeout per turn at most.
        if self._grounded is not None and model_ok:
            check = None
            if self._guards is not None:  # streamed text is checked before it is sent
                said = _customer_texts(state)
                check = self._guards.stream_check(lang=lang, customer_texts=said)
            return await self._grounded.answer(
                question, lang=lang, tenant=tenant, on_delta=on_delta, partial_check=check
            )
        if self._knowledge is not None:
            return await self._knowledge.answer(question, lang=lang, tenant=tenant)
        return None

    async def _understand(
        self, tracker: Tracker, req: ChatRequest, lang: str
    ) -> tuple[TurnInput, Stage2Decision | None, GuardVerdict | None]:
        now = self._clock()
        state = tracker.state
        decision: Stage2Decision | None = None
        blocked: GuardVerdict | None = None
        if req.action is not None:
            payload = self._button_payload(state, req.action)
            shown = _label_of(state, req.action.id) or req.action.id
            tracker.record(
                UserUttered(
                    ts=now,
                    text=shown,
                    lang=lang,
                    action_id=req.action.id,
                    payload=payload,
                    client_msg_id=req.client_msg_id,
                )
            )
            nlu = _nlu_from_payload(payload)
            text_in = shown
        else:
            text_in = req.text or ""
            tracker.record(
                UserUttered(ts=now, text=text_in, lang=lang, client_msg_id=req.client_msg_id)
            )
            # Understand in the message's own language ("hi" in a Chinese chat is still a
            # greeting); the reply keeps the conversation's language.
            nlu = self._nlu.parse(text_in, lang=detect_lang(text_in) or lang)
            payload = None
            if self._guards is not None:
                # Rules on every message; the semantic check where stage 1's rules did not
                # settle it (such messages may reach the model or the knowledge base).
                blocked = self._guards.check_message(
                    text_in, lang=lang, semantic=nlu.stage != "rule"
                )
            if nlu.needs_llm and self._stage2 is not None and blocked is None:
                decision = await self._stage2.decide(state, text_in, nlu, lang)
                if decision is None:  # the model failed: no second try in this turn
                    decision = Stage2Decision(route="none", model_failed=True)
                if decision.nlu is not None:
                    nlu = decision.nlu
                    payload = decision.payload
        tracker.record(
            IntentRecognized(
                ts=now,
                name=nlu.intent,
                confidence=nlu.confidence,
                stage=nlu.stage,
                entities=[e.to_data() for e in nlu.entities],
            )
        )
        self._metrics.intents.labels(intent=nlu.intent, stage=nlu.stage).inc()
        return TurnInput(text=text_in, nlu=nlu, payload=payload), decision, blocked

    def _button_payload(self, state: DialogueState, action: ButtonAction) -> dict[str, JsonValue]:
        """The server's copy of a clicked option's payload: a client cannot forge one."""
        if action.id in state.offered_options:
            return dict(state.offered_options[action.id])
        group = state.offered_option_groups.get(action.id)
        if group is not None:
            selected = action.payload.get("selected")
            if not isinstance(selected, list) or not selected:
                raise ChatError("bad_action", "a multiple choice needs payload.selected", 422)
            for item in selected:
                if item not in group:
                    raise ChatError("bad_action", "a selected option was not offered", 422)
            return {"selected": selected}
        raise ChatError("stale_action", "that option is no longer available", 409)

    def _record_reply(
        self, tracker: Tracker, req: ChatRequest, replies: list[Reply], source: str
    ) -> None:
        tracker.record(
            BotUttered(
                ts=self._clock(),
                replies=[r.to_wire() for r in replies],
                answer_source=source,
                client_msg_id=req.client_msg_id,
            )
        )

    def _fallback(self, lang: str) -> list[Reply]:
        return [
            OptionsReply(
                text=text("fallback", lang),
                options=(
                    Option(
                        id="fb-order",
                        label=text("topic_order", lang),
                        payload={"intent": "order_status"},
                    ),
                    Option(
                        id="fb-logistics",
                        label=text("topic_logistics", lang),
                        payload={"intent": "logistics_tracking"},
                    ),
                    Option(
                        id="fb-human", label=text("human", lang), payload={"intent": "human_agent"}
                    ),
                ),
            )
        ]

    async def _commit(self, tracker: Tracker, record: SessionRecord | None) -> None:
        events = tracker.take_pending()
        state = tracker.state
        await self._store.append(
            AppendBatch(
                tenant=state.tenant,
                session_id=state.session_id,
                first_seq=state.seq - len(events),
                events=events,
                new_session=record,
            )
        )

    def _result(
        self, state: DialogueState, output: TurnOutput, sources: tuple[Source, ...], source: str
    ) -> TurnResult:
        last = state.history[-1] if state.history else None
        assert last is not None and last.role == "bot"
        flow_info = None
        frame = state.active
        if frame is not None:
            flow = self._engine.flows.get(frame.flow)
            expecting = None
            if flow is not None:
                step = flow.step(frame.step)
                expecting = (
                    step.collect
                    if step.kind == "collect"
                    else ("confirmation" if step.kind == "confirm" else None)
                )
            flow_info = FlowInfo(name=frame.flow, step=frame.step, expecting=expecting)
        return TurnResult(
            session_id=state.session_id,
            turn=state.turn,
            replies=[r.to_wire() for r in output.replies],
            intent=state.intent,
            flow=flow_info,
            slots=dict(state.slots),
            sources=sources,
            answer_source=source,
            handoff=output.handoff,
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _get_record(self, tenant: TenantId, sid: SessionId) -> SessionRecord:
        try:
            record = await self._store.get_session(tenant, sid)
        except StoreError as exc:
            raise ChatError("store_unavailable", "could not read the conversation", 503) from exc
        if record is None:
            raise ChatError("session_not_found", "no such session", 404)
        return record

    @staticmethod
    def _check_owner(record: SessionRecord, user_id: str | None) -> None:
        if user_id and record.user_id and record.user_id != user_id:
            raise ChatError("session_forbidden", "this session belongs to someone else", 403)

    def _remember(self, state: DialogueState) -> None:
        size = self._settings.session.cache_size
        if size <= 0:
            return
        key = (state.tenant, state.session_id)
        self._cache[key] = state
        self._cache.move_to_end(key)
        while len(self._cache) > size:
            self._cache.popitem(last=False)
        # Least recently used first: drop sessions idle past the timeout (their next turn
        # would start afresh anyway), so a busy server does not keep every old state.
        idle_before = self._clock() - self._settings.session.idle_timeout_s
        while self._cache:
            oldest_key, oldest = next(iter(self._cache.items()))
            if oldest.last_ts >= idle_before or oldest_key == key:
                break
            del self._cache[oldest_key]


def _check_session_id(session_id: str) -> None:
    if not SESSION_ID_RE.match(session_id):
        raise ChatError("invalid_session_id", "session ids are 1-64 letters, digits, _ or -", 422)


def _customer_texts(state: DialogueState) -> list[str]:
    """What the customer wrote in this session (personal data in it may be said back)."""
    return [h.text for h in state.history if h.role == "user"]


def _label_of(state: DialogueState, option_id: str) -> str | None:
    return state.offered_labels.get(option_id)


def _nlu_from_payload(payload: dict[str, JsonValue]) -> NluResult:
    intent = payload.get("intent")
    acts: frozenset[str] = frozenset()
    if payload.get("confirm") is True:
        acts = frozenset({"affirm"})
    elif payload.get("confirm") is False:
        acts = frozenset({"deny"})
    return NluResult(
        intent=str(intent) if isinstance(intent, str) else OUT_OF_SCOPE,
        confidence=1.0 if isinstance(intent, str) else 0.0,
        stage="button",
        acts=acts,
    )
