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


class ActionRegistry:
    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._actions: dict[str, Action] = {}
        self._timeout = timeout_s

    def register(self, name: str, action: Action) -> None:
        self._actions[name] = action

    def names(self) -> set[str]:
        return set(self._actions)

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    async def run(self, name: str, ctx: ActionContext) -> ActionResult:
        """Run an action with a timeout. Failures become status `error`, never an exception."""
        action = self._actions.get(name)
        if action is None:
            log.error("dialogue.unknown_action name=%s", name)
            return ActionResult(status="error", data={"error": "unknown_action"})
        try:
            async with asyncio.timeout(self._timeout):
                return await action(ctx)
        except TimeoutError:
            log.warning("dialogue.action_timeout name=%s", name)
            return ActionResult(status="error", data={"error": "timeout"})
        except Exception:
            log.exception("dialogue.action_failed name=%s", name)
            return ActionResult(status="error", data={"error": "exception"})


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


def register_builtins(registry: ActionRegistry) -> None:
    from kefu.dialogue.identity_text import counter, parse_identity

    registry.register("list_pop", list_pop)
    registry.register("list_append", list_append)
    registry.register("parse_identity", parse_identity)
    registry.register("counter", counter)
