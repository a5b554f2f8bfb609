"""Named actions that flows call (`action: lookup_order`), and slot validators."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from kefu.domain.types import JsonValue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionContext:
    session_id: str
    tenant: str
    user_id: str | None
    user_verified: bool
    lang: str
    slots: Mapping[str, JsonValue]
    # Unique per (session, flow frame, step, turn): a retried write must not write twice.
    idempotency_key: str
    # The step's `with:` parameters.
    params: Mapping[str, JsonValue] = field(default_factory=dict)
    # The conversation so far, (role, text) oldest first, for tickets a human will read.
    transcript: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """`status` is what flows branch on: ok, not_found, forbidden, error, or an action's own."""

    status: str
    data: dict[str, JsonValue] = field(default_factory=dict)


Action = Callable[[ActionContext], Awaitable[ActionResult]]
# Called after an action with its name, context and result (see ActionRegistry.after).
AfterHook = Callable[[str, "ActionContext", "ActionResult"], Awaitable[None]]


class ActionRegistry:
    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._actions: dict[str, Action] = {}
        self._after: dict[str, list[AfterHook]] = {}
        self._timeout = timeout_s

    def register(self, name: str, action: Action) -> None:
        self._actions[name] = action

    def names(self) -> set[str]:
        return set(self._actions)

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def after(self, name: str, hook: AfterHook) -> None:
        """Run `hook` after each call of action `name`, outside its time limit (an audit
        record that is slow to commit must not turn a done write into a time-out)."""
        self._after.setdefault(name, []).append(hook)

    async def run(self, name: str, ctx: ActionContext) -> ActionResult:
        """Run an action with a timeout. Failures become status `error`, never an exception."""
        action = self._actions.get(name)
        if action is None:
            log.error("dialogue.unknown_action name=%s", name)
            return ActionResult(status="error", data={"error": "unknown_action"})
        try:
            async with asyncio.timeout(self._timeout):
                result = await action(ctx)
        except TimeoutError:
            log.warning("dialogue.action_timeout name=%s", name)
            result = ActionResult(status="error", data={"error": "timeout"})
        except Exception:
            log.exception("dialogue.action_failed name=%s", name)
            result = ActionResult(status="error", data={"error": "exception"})
        for hook in self._after.get(name, ()):
            try:
                await hook(name, ctx, result)
            except Exception:
                log.exception("dialogue.action_hook_failed name=%s", name)
        return result


Validator = Callable[[str], str | None]
"""Returns the normalised value, or None when the value is not acceptable."""


def _nonempty(value: str) -> str | None:
    v = value.strip()
    return v if 0 < len(v) <= 500 else None


_NONE_WORDS = frozenset({"无", "没有", "不用", "none", "no", "n/a", "na", "-", "nothing"})


def _optional(value: str) -> str | None:
    """Free text that may be left empty ("无", "none")."""
    v = value.strip()
    if v.lower().rstrip("。.!！") in _NONE_WORDS:
        return ""
    return v if len(v) <= 500 else None


VALIDATORS: dict[str, Validator] = {"nonempty": _nonempty, "optional": _optional}


async def list_pop(ctx: ActionContext) -> ActionResult:
    """`with: {list: SLOT}`: the first element as `value`, the others as `rest`; `empty`
    when nothing is left. With `save:` this walks a list one element per loop."""
    items = ctx.slots.get(str(ctx.params.get("list", "")))
    if not isinstance(items, list) or not items:
        return ActionResult(status="empty", data={"rest": []})
    return ActionResult(status="ok", data={"value": items[0], "rest": items[1:]})


async def list_append(ctx: ActionContext) -> ActionResult:
    """`with: {list: SLOT, value: SLOT}`: the list with the value appended, as `list`."""
    items = ctx.slots.get(str(ctx.params.get("list", "")))
    value = ctx.slots.get(str(ctx.params.get("value", "")))
    base: list[JsonValue] = list(items) if isinstance(items, list) else []
    return ActionResult(status="ok", data={"list": [*base, value]})


async def list_find(ctx: ActionContext) -> ActionResult:
    """`with: {list: SLOT, key: FIELD, value: SLOT, show: FIELD}`: the entries of the list
    whose `key` field equals the value of slot `value` (for a list value, one entry per
    element, in its order) as `entries`, the first as `entry`, their `show` field (default
    `label`) as `labels` and joined for the customer's language as `text`. Status
    `not_found` when a value has no entry. A summary names what an id stands for this way."""
    entries = ctx.slots.get(str(ctx.params.get("list", "")))
    key = str(ctx.params.get("key", ""))
    show = str(ctx.params.get("show", "label"))
    wanted = ctx.slots.get(str(ctx.params.get("value", "")))
    values = wanted if isinstance(wanted, list) else [] if wanted is None else [wanted]
    rows = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    found: list[JsonValue] = []
    for v in values:
        match = next((e for e in rows if e.get(key) == v), None)
        if match is not None:
            found.append(match)
    labels: list[JsonValue] = [
        str(e.get(show, "")) for e in found if isinstance(e, dict) and e.get(show) is not None
    ]
    sep = "、" if ctx.lang == "zh" else ", "
    return ActionResult(
        status="ok" if found and len(found) == len(values) else "not_found",
        data={
            "entry": found[0] if found else None,
            "entries": found,
            "labels": labels,
            "text": sep.join(str(x) for x in labels),
        },
    )


def register_builtins(registry: ActionRegistry) -> None:
    from kefu.dialogue.identity_text import counter, parse_identity

    registry.register("list_pop", list_pop)
    registry.register("list_append", list_append)
    registry.register("list_find", list_find)
    registry.register("parse_identity", parse_identity)
    registry.register("counter", counter)
