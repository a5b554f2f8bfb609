"""A simulated model for tests and benchmarks: it reads kefu's own prompts and answers the
way a cautious model would, deterministically.

- Commands (`purpose="command"`): with no flow active, it starts the flow of stage 1's best
  guess when that guess scores at least `START_SCORE`, carrying no values (stage 1's
  entities are used); otherwise, and whenever a flow is active, it returns no commands, so
  the turn takes the stage-1 path. That makes "LLM stage 2 on" reproduce the scripted
  conversations exactly while still exercising the prompt, the HTTP call, structured
  output, parsing, validation and the decision.
- Answers (`purpose="answer"`): the first sentence of passage [1] with a `[1]` citation, or
  `[NONE]` when no passage was given.

`respond(request)` is a `Responder` for `FakeChatModel`; `respond_openai(body)` is one for
`kefu.testing.fake_openai` (the JSON body of a chat-completions request).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kefu.llm.base import LlmRequest

START_SCORE = 0.6

_FLOW_LINE = re.compile(r"^- ([a-z_]+): .*?; intents: ([a-z_, ]*);", re.M)
_GUESSES = re.compile(r"(?:Stage-1 guesses \(intent: score\)|初步判断（意图：分数）)[:：] ?(.*)")
_ACTIVE = re.compile(r"(?:Active flow|当前流程)[:：] ?(.*)")
_PASSAGE = re.compile(r"^\[1\] (.*?)(?=^\[2\] |\Z)", re.M | re.S)
_SENTENCE = re.compile(r"(.+?[。！？.!?])(\s|$)", re.S)


def _flows(system: str) -> dict[str, str]:
    """intent -> flow name, from the flow catalog in the system prompt."""
    out: dict[str, str] = {}
    for name, intents in _FLOW_LINE.findall(system):
        for intent in intents.split(","):
            if intent.strip():
                out[intent.strip()] = name
    return out


def commands_for(system: str, turn: str) -> dict[str, Any]:
    active = _ACTIVE.search(turn)
    if active and active.group(1).strip() not in ("none", "无"):
        return {"commands": []}
    guesses = _GUESSES.search(turn)
    best: tuple[str, float] | None = None
    if guesses:
        for part in guesses.group(1).split(","):
            name, _, score = part.strip().partition(": ")
            try:
                best = (name, float(score))
            except ValueError:
                continue
            break
    flows = _flows(system)
    if best is not None and best[1] >= START_SCORE and best[0] in flows:
        return {"commands": [{"command": "start_flow", "flow": flows[best[0]]}]}
    return {"commands": []}


def answer_for(turn: str) -> str:
    found = _PASSAGE.search(turn)
    if found is None:
        return "[NONE]"
    lines = found.group(1).strip().splitlines()
    body = " ".join(lines[1:] if len(lines) > 1 else lines).strip()
    first = _SENTENCE.match(body)
    sentence = (first.group(1) if first else body[:120]).strip()
    return f"{sentence} [1]" if sentence else "[NONE]"


def _reply(purpose: str, system: str, turn: str) -> str:
    if purpose == "command":
        return orjson.dumps(commands_for(system, turn)).decode()
    return answer_for(turn)


def respond(request: LlmRequest) -> str:
    system = next((m.content for m in request.messages if m.role == "system"), "")
    turn = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return _reply(request.purpose, system, turn)


def respond_openai(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    system = next((str(m.get("content")) for m in messages if m.get("role") == "system"), "")
    turn = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    purpose = "command" if body.get("response_format") else "answer"
    return _reply(purpose, system, turn)
