"""Grounded answers: the LLM answers a knowledge question from retrieved passages only.

The FAQ fast path stays first: a confident FAQ match (or a cached answer) is answered as
written, without the model. Otherwise the best passages are numbered and given to the
model, which answers in the customer's language and cites them as `[1]`, or says `[NONE]`.
The text streams to the customer as it is written (citation marks removed); when the
stream ends, the whole answer is checked — it must cite at least one passage, only passages
it was given, overlap them in content, and pass the output check — and an answer that fails
is replaced by the extractive one (the final `reply` frame always carries what counts).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kefu.domain.replies import OptionsReply, TextReply
from kefu.knowledge.answerer import KB_ERRORS, KbAnswerer, not_found
from kefu.knowledge.base import KnowledgeAnswer, Source
from kefu.knowledge.model import Candidate
from kefu.llm.base import ChatMessage, ChatModel, LlmError, LlmRequest, close_stream
from kefu.llm.prompts import render
from kefu.safety.guards import grounded
from kefu.safety.pii import PiiVault

log = logging.getLogger(__name__)

DeltaSink = Callable[[str], Awaitable[None]]
# Sees the visible text so far, before more of it is sent: False stops the stream.
PartialCheck = Callable[[str], bool]
# Streamed text goes out in pieces at least this far apart (or at a sentence end): fewer
# frames, and the output check (about 0.3 ms over a whole answer) sees each piece before
# the customer does. Ten updates a second still read as typing.
DELTA_EVERY_S = 0.1
_SENTENCE_END = ("。", "！", "？", ".", "!", "?", "\n")
# Checks a finished answer before it is sent: (text, passages by source id) -> ok.
AnswerCheck = Callable[[str, dict[str, str]], bool]

NONE_MARK = "[NONE]"
_CITE = re.compile(r"\s?[\[【](\d{1,2})[\]】]")


@dataclass(frozen=True, slots=True, kw_only=True)
class GroundedPolicy:
    passages: int = 4  # at most this many passages in the prompt
    passage_chars: int = 600
    # A candidate goes into the prompt when its fused score is at least this far below the
    # knowledge policy's suggest threshold (retrieval is a recall step here; the model
    # decides relevance and may answer [NONE]).
    floor_below_suggest: float = 0.15
    # Share of the answer's content tokens (CJK characters, Latin words) that must occur in
    # the cited passages (kefu.safety.guards.grounded, which also wants every number of the
    # answer in them): a cheap guard against answers made up around a citation.
    min_overlap: float = 0.35


@dataclass(frozen=True, slots=True, kw_only=True)
class GroundedResult:
    answer: KnowledgeAnswer
    outcome: str  # faq | llm | none | rejected | error | extractive


class CitationFilter:
    """Removes `[n]` marks from streamed text, holding back a piece that may be the start of
    one, and holds back the whole start until it is clear the answer is not `[NONE]`."""

    def __init__(self) -> None:
        self._pending = ""
        self._started = False

    def feed(self, piece: str) -> str:
        self._pending += piece
        if not self._started:
            head = self._pending.lstrip()
            if NONE_MARK.startswith(head[: len(NONE_MARK)]) and len(head) < len(NONE_MARK):
                return ""
            if head.startswith(NONE_MARK):
                return ""
            self._started = True
        cut = self._pending.rfind("[")
        cut_alt = self._pending.rfind("【")
        cut = max(cut, cut_alt)
        if (
            cut >= 0
            and not re.search(r"[\]】]", self._pending[cut:])
            and (len(self._pending) - cut <= 4)
        ):
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        kept = ready.rstrip()  # a space may belong to a mark that follows ("word [1]")
        if len(kept) < len(ready):
            ready, self._pending = kept, ready[len(kept) :] + self._pending
        return _CITE.sub("", ready)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        if not self._started and rest.strip().startswith(NONE_MARK):
            return ""
        return _CITE.sub("", rest)


class GroundedAnswerer:
    """Answers knowledge questions with the model, over `KbAnswerer`'s retrieval."""

    def __init__(
        self,
        model: ChatModel,
        kb: KbAnswerer,
        *,
        timeout_s: float,
        max_tokens: int | None = None,
        policy: GroundedPolicy | None = None,
        check: AnswerCheck | None = None,
        mask_pii: bool = True,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._model = model
        self.kb = kb
        self._timeout_s = timeout_s
        self._max_tokens = max_tokens
        self.policy = policy or GroundedPolicy()
        self._check = check
        self._mask_pii = mask_pii
        self._on_outcome = on_outcome

    async def answer(
        self,
        question: str,
        *,
        lang: str,
        tenant: str,
        on_delta: DeltaSink | None = None,
        partial_check: PartialCheck | None = None,
    ) -> KnowledgeAnswer | None:
        result = await self.answer_with_outcome(
            question, lang=lang, tenant=tenant, on_delta=on_delta, partial_check=partial_check
        )
        if self._on_outcome is not None:
            self._on_outcome(result.outcome)
        return result.answer if result.answer.replies else None

    async def answer_entry(
        self, entry_id: str, *, lang: str, tenant: str
    ) -> KnowledgeAnswer | None:
        return await self.kb.answer_entry(entry_id, lang=lang, tenant=tenant)

    async def answer_with_outcome(
        self,
        question: str,
        *,
        lang: str,
        tenant: str,
        on_delta: DeltaSink | None = None,
        partial_check: PartialCheck | None = None,
    ) -> GroundedResult:
        """`on_delta` gets the visible text in pieces, about every `DELTA_EVERY_S` or at a
        sentence end; `partial_check` sees all the visible text so far before each piece is
        sent, and a False stops the model and gives the extractive answer instead."""
        extractive, ranked = await self.kb.answer_ranked(question, lang=lang, tenant=tenant)
        if extractive is None:  # the KB is down or has no answer policy-wise
            return GroundedResult(answer=_empty(), outcome="extractive")
        if extractive.answer_source == "faq" and not _is_choice(extractive):
            return GroundedResult(answer=extractive, outcome="faq")
        if extractive.answer_source == "fallback":
            return GroundedResult(answer=extractive, outcome="none")
        try:  # a cached extractive answer comes without candidates: rank once more
            candidates = ranked or await self.kb.rank(question, lang=lang, tenant=tenant)
        except KB_ERRORS as exc:
            log.error("llm.grounded_rank_failed tenant=%s error=%s", tenant, exc)
            return GroundedResult(answer=extractive, outcome="extractive")
        chosen = self._passages(candidates, lang)
        if not chosen:
            return GroundedResult(answer=extractive, outcome="extractive")
        passages = {c.entry_id: _passage_text(c, self.policy.passage_chars) for c in chosen}
        vault = PiiVault() if self._mask_pii else None
        asked = vault.mask(question) if vault is not None else question
        request = LlmRequest(
            messages=self.messages(asked, chosen, lang),
            purpose="answer",
            max_tokens=self._max_tokens,
            timeout_s=self._timeout_s,
        )
        raw = ""
        out = _DeltaBatcher(on_delta, partial_check)
        filt = CitationFilter()
        try:
            pieces = self._model.stream(request)
            try:
                async for piece in pieces:
                    raw += piece
                    if not await out.add(filt.feed(piece)):
                        break
            finally:  # leaving early (the customer went away) ends the upstream request
                await close_stream(pieces)
            if not out.stopped:
                await out.add(filt.flush(), final=True)
        except LlmError as exc:
            log.warning("llm.grounded_failed kind=%s", exc.kind)
            return GroundedResult(answer=extractive, outcome="error")
        if out.stopped:
            log.info("llm.grounded_stopped why=partial_check")
            return GroundedResult(answer=extractive, outcome="stopped")
        text = vault.unmask(raw.strip()) if vault is not None else raw.strip()
        if text.startswith(NONE_MARK):
            answer = extractive if _is_choice(extractive) else not_found(lang)
            return GroundedResult(answer=answer, outcome="none")
        cited = self._cited(text, chosen)
        if cited is None or not self._passes(text, cited, passages):
            return GroundedResult(answer=extractive, outcome="rejected")
        body = " ".join(_CITE.sub("", text).split()) if lang == "en" else _CITE.sub("", text)
        sources = tuple(
            Source(id=c.entry_id, title=c.title, score=round(c.fused, 4)) for c in cited
        )
        answer = KnowledgeAnswer(
            replies=(TextReply(text=body.strip()),), sources=sources, answer_source="llm"
        )
        return GroundedResult(answer=answer, outcome="llm")

    def messages(
        self, question: str, chosen: Sequence[Candidate], lang: str
    ) -> tuple[ChatMessage, ...]:
        numbered = "\n\n".join(
            f"[{i}] {_passage_text(c, self.policy.passage_chars)}"
            for i, c in enumerate(chosen, start=1)
        )
        return (
            ChatMessage(role="system", content=render("answer", lang)),
            ChatMessage(
                role="user",
                content=render("answer_turn", lang, passages=numbered, question=question),
            ),
        )

    def _passages(self, candidates: Sequence[Candidate], lang: str) -> list[Candidate]:
        policy = self.kb.policy
        floor = (
            policy.suggest_threshold
            + policy.lang_offset.get(lang, 0.0)
            - self.policy.floor_below_suggest
        )
        doc_floor = min(floor, policy.doc_threshold + policy.lang_offset.get(lang, 0.0) - 0.1)
        return [c for c in candidates if c.fused >= (floor if c.kind == "faq" else doc_floor)][
            : self.policy.passages
        ]

    @staticmethod
    def _cited(text: str, chosen: Sequence[Candidate]) -> list[Candidate] | None:
        """The cited candidates, or None when nothing is cited or a citation is made up."""
        numbers = [int(n) for n in _CITE.findall(text)]
        if not numbers:
            log.info("llm.grounded_rejected why=no_citation")
            return None
        if any(n < 1 or n > len(chosen) for n in numbers):
            log.info("llm.grounded_rejected why=unknown_citation")
            return None
        return [chosen[n - 1] for n in dict.fromkeys(numbers)]

    def _passes(self, text: str, cited: Sequence[Candidate], passages: dict[str, str]) -> bool:
        ids = [c.entry_id for c in cited]
        if not grounded(text, passages, ids, min_overlap=self.policy.min_overlap):
            log.info("llm.grounded_rejected why=not_grounded")
            return False
        if self._check is not None and not self._check(text, passages):
            log.info("llm.grounded_rejected why=output_check")
            return False
        return True


class _DeltaBatcher:
    """Collects visible text and sends it in pieces, after `partial_check` approves."""

    def __init__(self, sink: DeltaSink | None, check: PartialCheck | None) -> None:
        self._sink = sink
        self._check = check
        self._sent = ""
        self._buffer = ""
        self._last = time.perf_counter()
        self.stopped = False

    async def add(self, text: str, *, final: bool = False) -> bool:
        """False once the check has stopped the stream."""
        self._buffer += text
        due = time.perf_counter() - self._last >= DELTA_EVERY_S
        if not self._buffer or not (final or due or self._buffer.endswith(_SENTENCE_END)):
            return True
        if self._check is not None and not self._check(self._sent + self._buffer):
            self.stopped = True
            return False
        piece, self._buffer = self._buffer, ""
        self._sent += piece
        self._last = time.perf_counter()
        if self._sink is not None:
            await self._sink(piece)
        return True


def _passage_text(c: Candidate, limit: int) -> str:
    body = " ".join(c.best.text.split())[:limit]
    return f"{c.title}\n{body}" if c.title and c.title not in body else body


def _is_choice(answer: KnowledgeAnswer) -> bool:
    return bool(answer.replies) and isinstance(answer.replies[0], OptionsReply)


def _empty() -> KnowledgeAnswer:
    return KnowledgeAnswer(replies=(), sources=(), answer_source="fallback")
