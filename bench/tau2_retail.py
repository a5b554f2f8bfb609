"""τ²-bench retail as a benchmark: do kefu's flows reach each task's gold database?

For each of the 114 tasks: a fresh shop (SqlShopStore on a SQLite file, tenant "default")
is loaded from τ²-bench's `db.json`; the gold final state is `db.json` with the task's
gold write actions applied by `kefu.commerce.tau2.apply_tool` (so each changed item is
priced at its own variant: tasks 20, 21, 36, 37, 100 are judged against correct prices,
not τ²-bench's last-variant pricing). Then one English conversation runs on the real
dialogue engine with a scripted, cooperative customer that knows the gold actions: it
asks for each gold write in order, verifies with the gold `find_user_id_*` arguments and
answers what the flow expects (`flow.expecting`), clicking the button whose payload
matches and typing otherwise. The store is then exported (`to_tau2`) and compared with
the gold state as τ²-bench does: the whole document must be equal.

    .venv/bin/python bench/tau2_retail.py [--tasks 0,5,7] [--json FILE] [--verbose]
        [--oracle-intents] [--rules-only] [--flows FILE ...] [--max-turns 60]

`--oracle-intents` gives each request its intent and no other message any, so only the
flows are measured; `--flows` adds or replaces flow files (to try a proposed change).
A failing task's transcript and state diff are printed; each failure gets a cause: an
NLU gap (a request, or an answer to a question, read as another intent), a flow gap
(`CAUSES`, from reading transcripts), a customer-script gap, or unclassified.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kefu.commerce.base import ShopRefusal
from kefu.commerce.memory import InMemoryShop
from kefu.commerce.sql_store import SqlShopStore
from kefu.commerce.tau2 import WRITE_TOOLS, apply_tool, from_tau2, to_tau2
from kefu.container import build_services
from kefu.dialogue.manager import (
    ButtonAction,
    ChatError,
    ChatRequest,
    DialogueManager,
    TurnResult,
)
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.dialogue.sql_store import make_engine
from kefu.domain.commerce import ShopData
from kefu.domain.types import DEFAULT_TENANT
from kefu.nlu.base import IntentRecognizer, NluResult
from kefu.settings import Settings

RETAIL = Path(__file__).resolve().parents[1] / "../shared/evaldata/tau2-bench/retail"
TENANT = DEFAULT_TENANT
MAX_TURNS = 60
PRICING_FIX_TASKS = frozenset({"20", "21", "36", "37", "100"})
TRANSFER = "transfer_to_human_agents"
STATUS = "order_status"  # only for tasks without a gold write: ask about the orders read
GREETING = "greeting"  # only for tasks without any gold action

REQUESTS = {
    "cancel_pending_order": "I want to cancel an order",
    "modify_pending_order_items": "I want to exchange some items of my order",
    "modify_pending_order_payment": "I want to change the payment method of my order",
    "modify_pending_order_address": "I want to change the shipping address of my order",
    "modify_user_address": "I want to change my default address",
    "return_delivered_order_items": "I want to return some items",
    "exchange_delivered_order_items": "I want to exchange some items",
    TRANSFER: "I want to talk to a human",
}
# The intent each request means, for --oracle-intents.
INTENTS = {
    "cancel_pending_order": "cancel_order",
    "modify_pending_order_items": "exchange_request",
    "modify_pending_order_payment": "change_payment",
    "modify_pending_order_address": "change_address",
    "modify_user_address": "change_address",
    "return_delivered_order_items": "return_request",
    "exchange_delivered_order_items": "exchange_request",
    TRANSFER: "human_agent",
}

# Why tasks fail when the NLU is not to blame, from reading their transcripts (see
# bench/results-tau2.md). Used for a failing task with no request or answer misread.
_NO_COUNTRY = (
    "flow gap",
    "change_address (default): modify_user_address is refused as invalid, country "
    "missing: the flow never asks it and the action has no current address to take it from",
)
CAUSES: dict[str, tuple[str, str]] = dict.fromkeys(
    ("33", "39", "41", "42", "43", "86", "87", "109"), _NO_COUNTRY
)


# -- the tasks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """One thing the customer asks for: a gold write (or a transfer, or a status read)."""

    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    task_id: str
    identity: str | None  # the answer to the verification question
    goals: tuple[Goal, ...]
    writes: tuple[Goal, ...]  # the gold write actions, for the gold state


def _owner(doc: dict[str, Any], actions: list[dict[str, Any]]) -> str | None:
    for a in actions:
        args = a["arguments"]
        if "user_id" in args and args["user_id"] in doc["users"]:
            return str(args["user_id"])
        order = doc["orders"].get(args.get("order_id", ""))
        if order is not None:
            return str(order["user_id"])
    return None


def _finds(doc: dict[str, Any], args: dict[str, Any]) -> str | None:
    """The user a find_user_id_* call finds, as τ²-bench's tool would."""
    for uid, u in doc["users"].items():
        if "email" in args and u["email"] == args["email"]:
            return str(uid)
        if "zip" in args and (
            u["name"]["first_name"],
            u["name"]["last_name"],
            u["address"]["zip"],
        ) == (args.get("first_name"), args.get("last_name"), args["zip"]):
            return str(uid)
    return None


def _identity(doc: dict[str, Any], actions: list[dict[str, Any]]) -> str | None:
    """The gold find_user_id_* arguments that find the customer (the last that finds
    anyone); without any, the name and zip of the owner of the orders the task touches."""
    owner = _owner(doc, actions)
    finds = [a["arguments"] for a in actions if a["name"].startswith("find_user_id")]
    found = [f for f in finds if _finds(doc, f) is not None]
    found.sort(key=lambda f: _finds(doc, f) == owner)  # stable: the owner's last
    if found:
        f = found[-1]
        return str(f["email"]) if "email" in f else f"{f['first_name']} {f['last_name']} {f['zip']}"
    if owner is None:
        return None
    u = doc["users"][owner]
    return f"{u['name']['first_name']} {u['name']['last_name']} {u['address']['zip']}"


def make_plan(doc: dict[str, Any], task: dict[str, Any]) -> Plan:
    actions: list[dict[str, Any]] = task["evaluation_criteria"]["actions"] or []
    writes = tuple(
        Goal(tool=a["name"], args=a["arguments"]) for a in actions if a["name"] in WRITE_TOOLS
    )
    goals = [Goal(tool=a["name"], args=a["arguments"]) for a in actions if a["name"] in REQUESTS]
    if not goals:  # nothing to change: ask about the orders the gold actions read
        reads = dict.fromkeys(
            a["arguments"]["order_id"] for a in actions if a["name"] == "get_order_details"
        )
        goals = [Goal(tool=STATUS, args={"order_id": oid}) for oid in reads]
    if not goals:  # nothing known at all: a greeting, so that every task has a chat
        goals = [Goal(tool=GREETING, args={})]
    return Plan(
        task_id=str(task["id"]),
        identity=_identity(doc, actions),
        goals=tuple(goals),
        writes=writes,
    )


async def gold_state(data: ShopData, plan: Plan) -> dict[str, Any]:
    """db.json with the gold writes applied; a write the store refuses is left out, as
    τ²-bench's tool raises and changes nothing (tasks 64 and 105)."""
    shop = InMemoryShop(data, tenant=TENANT)
    for g in plan.writes:
        try:
            await apply_tool(shop, TENANT, g.tool, g.args, idempotency_key=uuid.uuid4().hex)
        except ShopRefusal:
            continue
    return to_tau2(await shop.dump(TENANT))


# -- the customer ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    text: str | None = None
    action: ButtonAction | None = None

    def show(self) -> str:
        if self.action is None:
            return str(self.text)
        return f"[click {self.action.id}] {json.dumps(self.action.payload, ensure_ascii=False)}"


def _replies(result: TurnResult) -> list[dict[str, Any]]:
    """The replies as plain JSON (the wire shape a client reads)."""
    return [dict(r) for r in result.replies]


def _options(result: TurnResult) -> dict[str, Any] | None:
    found = [r for r in _replies(result) if r.get("type") == "options"]
    return found[-1] if found else None


def _click(result: TurnResult, slot: str, value: str) -> Say:
    """The button offering `{slot: value}`, else the value typed."""
    reply = _options(result)
    for opt in reply["options"] if reply else []:
        if isinstance(opt["payload"], dict) and opt["payload"].get(slot) == value:
            return Say(action=ButtonAction(id=opt["id"], payload=opt["payload"]))
    return Say(text=value)


def _item_of(payload: Any) -> str | None:
    """The item id in a slot value or an item button's payload ({"item_ids": id})."""
    if isinstance(payload, dict):
        found = payload.get("item_id", payload.get("item_ids"))
        return None if found is None else str(found)
    return None if payload is None else str(payload)


@dataclass(slots=True)
class Customer:
    """Answers the bot's questions for one goal at a time."""

    plan: Plan
    goal: Goal | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def start(self, goal: Goal) -> Say:
        self.goal = goal
        old, new = goal.args.get("item_ids", []), goal.args.get("new_item_ids", [])
        self.pairs = list(zip(old, new, strict=False))
        if goal.tool == STATUS:
            return Say(text=f"What is the status of order {goal.args['order_id']}?")
        if goal.tool == GREETING:
            return Say(text="Hello")
        return Say(text=REQUESTS[goal.tool])

    def answer(self, result: TurnResult) -> Say | None:
        """The reply to what the flow waits for; None when the script has no answer."""
        assert self.goal is not None and result.flow is not None
        slot, args = result.flow.expecting, self.goal.args
        if slot == "identity_text":
            return None if self.plan.identity is None else Say(text=self.plan.identity)
        if slot == "confirmation":
            return Say(text="yes")
        if slot == "item_ids":
            return self._items(result, [str(i) for i in args.get("item_ids", [])])
        if slot == "new_item_id":
            current = _item_of(result.slots.get("item_id"))
            pair = next((p for p in self.pairs if p[0] == current), None)
            if pair is None:
                return None
            self.pairs.remove(pair)
            return _click(result, slot, pair[1])
        value = self._value(slot)
        return None if value is None else _click(result, str(slot), value)

    def _value(self, slot: str | None) -> str | None:
        assert self.goal is not None
        args = self.goal.args
        if slot == "address_target":
            return "order" if self.goal.tool == "modify_pending_order_address" else "default"
        if slot == "address2" and args.get("address2") == "":
            return "none"
        key = {"postcode": "zip"}.get(str(slot), str(slot))
        return None if args.get(key) is None else str(args[key])

    def _items(self, result: TurnResult, wanted: list[str]) -> Say | None:
        reply = _options(result)
        if reply is None or not wanted:
            return None if not wanted else Say(text=", ".join(wanted))
        free = list(reply["options"])
        chosen: list[Any] = []
        for item in wanted:
            opt = next((o for o in free if _item_of(o["payload"]) == item), None)
            if opt is None:
                return Say(text=", ".join(wanted))
            free.remove(opt)
            chosen.append(opt)
        if reply.get("multi"):
            selected = [o["payload"] for o in chosen]
            return Say(action=ButtonAction(id=str(reply["id"]), payload={"selected": selected}))
        if len(chosen) == 1:
            return Say(action=ButtonAction(id=chosen[0]["id"], payload=chosen[0]["payload"]))
        return Say(text=", ".join(wanted))


# -- one task -------------------------------------------------------------------------


class OracleNlu:
    """The real NLU, except that intents are known: a request gets its intent, and no
    other message gets any (its entities and yes/no acts stay), so only the flows are
    measured."""

    def __init__(self, inner: IntentRecognizer) -> None:
        self.inner = inner
        self.intents = {REQUESTS[t]: i for t, i in INTENTS.items()}

    def parse(self, text: str, *, lang: str) -> NluResult:
        got = self.inner.parse(text, lang=lang)
        if text in self.intents:
            return dataclasses.replace(got, intent=self.intents[text], confidence=1.0)
        if text.startswith("What is the status of order") or text == "Hello":
            return got
        return dataclasses.replace(got, intent="out_of_scope", confidence=0.0, candidates=())


@dataclass(slots=True)
class Outcome:
    task_id: str
    passed: bool
    turns: int
    writes: list[str]
    stuck: str | None  # why the customer stopped early, if it did
    misses: list[str]  # requests not understood as meant (an NLU miss)
    misreads: list[str]  # answers to a question taken for an intent
    confirmed: int  # summaries confirmed, against len(writes)
    diff: list[str]
    transcript: list[str]
    seconds: float
    cause: str = ""
    note: str = ""


def _show(result: TurnResult) -> list[str]:
    lines = []
    for r in _replies(result):
        if r.get("type") == "options":
            opts = "; ".join(
                f"{o['id']}={json.dumps(o['payload'], ensure_ascii=False)}" for o in r["options"]
            )
            multi = " (multi)" if r.get("multi") else ""
            lines.append(f"< {r.get('text', '')}{multi} [{opts}]")
        elif r.get("type") == "card":
            lines.append(f"< [card {r.get('kind')}]")
        else:
            lines.append(f"< {r.get('text', '')}")
    f = result.flow
    where = f"{f.name}/{f.step} expecting={f.expecting}" if f else "no flow"
    lines.append(f"  ({where}; intent={result.intent.name if result.intent else None})")
    return lines


class Chat:
    def __init__(self, manager: DialogueManager) -> None:
        self.manager = manager
        self.session_id: str | None = None
        self.turns = 0
        self.transcript: list[str] = []
        self.misses: list[str] = []
        self.confirmed = 0  # summaries the customer said "yes" to
        self.misreads: list[str] = []

    async def send(self, say: Say) -> TurnResult | None:
        self.turns += 1
        self.transcript.append(f"> {say.show()}")
        req = ChatRequest(
            tenant=TENANT,
            session_id=self.session_id,
            text=say.text,
            action=say.action,
            lang="en",
        )
        try:
            result = await self.manager.handle(req)
        except ChatError as exc:
            self.transcript.append(f"! refused: {exc.code} {exc.message}")
            return None
        self.session_id = result.session_id
        self.transcript += _show(result)
        return result


def _intent(result: TurnResult, threshold: float) -> str | None:
    i = result.intent
    if i is None or i.name == "out_of_scope" or i.confidence < threshold:
        return None
    return i.name


def _lost(asked: tuple[str, str] | None, result: TurnResult) -> bool:
    """Whether an answer to the step `asked` was not taken: the flow is gone or asks the
    same again."""
    if asked is None:
        return False
    return result.flow is None or (result.flow.name, result.flow.step) == asked


async def converse(chat: Chat, plan: Plan, *, opts: Options) -> str | None:
    """Drives the conversation; returns why it stopped early, or None. Requests that were
    not understood as meant go to `chat.misses`, answers taken for an intent to
    `chat.misreads`."""
    customer = Customer(plan)
    for goal in plan.goals:
        say: Say | None = customer.start(goal)
        request, seen = True, Counter[tuple[str, str, str]]()
        asked: tuple[str, str] | None = None  # the flow step the message answers
        while say is not None:
            if chat.turns >= opts.max_turns:
                return f"turn limit {opts.max_turns}"
            result = await chat.send(say)
            if result is None:
                return "a turn was refused"
            got = _intent(result, opts.threshold)
            if request and goal.tool in INTENTS and got != INTENTS[goal.tool]:
                chat.misses.append(f"{say.text!r} -> {got or 'nothing'}")
            elif got is not None and _lost(asked, result):
                chat.misreads.append(f"{say.show()!r} -> {got}")
            if result.handoff is not None or result.flow is None:
                break
            request, asked = False, (result.flow.name, result.flow.step)
            chat.confirmed += result.flow.expecting == "confirmation"
            say = customer.answer(result)
            if say is None:
                return f"no answer for {result.flow.name}/{result.flow.expecting}"
            key = (result.flow.name, result.flow.step, say.show())
            seen[key] += 1
            if seen[key] > 3:
                return f"loop at {result.flow.name}/{result.flow.step}"
        if goal.tool == TRANSFER:
            break
    return None


def diff_docs(got: Any, want: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(got, dict) and isinstance(want, dict):
        for k in list(dict.fromkeys([*want, *got])):
            if k not in got:
                out.append(f"{path}.{k}: missing (want {json.dumps(want[k])[:120]})")
            elif k not in want:
                out.append(f"{path}.{k}: extra {json.dumps(got[k])[:120]}")
            else:
                diff_docs(got[k], want[k], f"{path}.{k}", out)
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            diff_docs(g, w, f"{path}[{i}]", out)
    elif got != want:
        out.append(f"{path}: {json.dumps(got)[:120]} != gold {json.dumps(want)[:120]}")
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    max_turns: int = MAX_TURNS
    flow_paths: tuple[Path, ...] = ()  # flow files that add to or replace the built-in ones
    oracle_intents: bool = False
    nlu: dict[str, Any] = field(default_factory=dict)  # NLU settings, e.g. classifier off
    threshold: float = 0.6  # the engine's intent threshold (settings.nlu.intent_threshold)


async def run_task(data: ShopData, plan: Plan, *, workdir: Path, opts: Options) -> Outcome:
    started = time.perf_counter()
    want = await gold_state(data, plan)
    engine = make_engine(f"sqlite+aiosqlite:///{workdir}/shop-{plan.task_id}.db")
    store = SqlShopStore(engine, dispose_engine=True)
    nlu_settings: dict[str, Any] = {"nlu": opts.nlu} if opts.nlu else {}
    settings = Settings(
        env="test",
        data_dir=workdir,
        _env_file=None,
        shop={"demo_if_empty": False},
        limits={"per_session_rate": 1000, "per_session_burst": 1000},
        flow_paths=list(opts.flow_paths),
        **nlu_settings,
    )
    opts = dataclasses.replace(opts, threshold=settings.nlu.intent_threshold)
    services = build_services(settings, store=InMemoryTrackerStore(), orders=store)
    if opts.oracle_intents:
        nlu = OracleNlu(services.nlu)
        services = build_services(settings, store=InMemoryTrackerStore(), orders=store, nlu=nlu)
    await services.start()
    try:
        await store.load(TENANT, data)
        chat = Chat(services.manager)
        stuck = await converse(chat, plan, opts=opts)
        got = to_tau2(await store.dump(TENANT))
    finally:
        await services.close()
        for f in workdir.glob(f"shop-{plan.task_id}.db*"):
            f.unlink()
    return Outcome(
        task_id=plan.task_id,
        passed=got == want,
        turns=chat.turns,
        writes=[g.tool for g in plan.writes],
        stuck=stuck,
        misses=chat.misses,
        misreads=chat.misreads,
        confirmed=chat.confirmed,
        diff=[] if got == want else diff_docs(got, want)[:12],
        transcript=chat.transcript,
        seconds=time.perf_counter() - started,
    )


# -- report ---------------------------------------------------------------------------

SHORT = {
    "cancel_pending_order": "cancel",
    "modify_pending_order_items": "modify items",
    "modify_pending_order_payment": "payment",
    "modify_pending_order_address": "order addr",
    "modify_user_address": "user addr",
    "return_delivered_order_items": "return",
    "exchange_delivered_order_items": "exchange",
}


def classify(o: Outcome) -> None:
    """The cause of a failure (or a remark on a pass), into `o.cause` and `o.note`."""
    notes = []
    if o.passed:
        o.cause = "passed"
        if o.task_id in PRICING_FIX_TASKS:
            notes.append("gold priced per item")
        if not o.writes:
            notes.append("no write in gold")
        elif o.confirmed != len(o.writes):
            notes.append(f"{o.confirmed} of {len(o.writes)} gold writes confirmed")
    elif o.misses:
        o.cause = "NLU gap: request"
    elif o.misreads:
        o.cause = "NLU gap: answer taken for an intent"
    elif o.task_id in CAUSES:
        o.cause, note = CAUSES[o.task_id]
        notes.append(note)
    elif o.stuck and o.stuck.startswith("no answer"):
        o.cause = "customer-script gap"
    else:
        o.cause = "unclassified"
    if o.misses:
        notes.append("request read as: " + "; ".join(dict.fromkeys(o.misses)))
    if o.misreads and not o.passed:
        notes.append("answers read as: " + "; ".join(list(dict.fromkeys(o.misreads))[:3]))
    if o.stuck:
        notes.append(o.stuck)
    if not o.passed and not notes and o.diff:
        notes.append(o.diff[0])
    o.note = "; ".join(notes)


def print_report(console: Console, outcomes: list[Outcome], *, verbose: bool) -> None:
    table = Table(title="τ²-bench retail: kefu flows with a scripted customer")
    for col in ("task", "gold writes", "turns", "result", "cause / note"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        mark = "[green]pass[/]" if o.passed else "[red]FAIL[/]"
        writes = ", ".join(SHORT[w] for w in o.writes) or "-"
        note = o.note if o.passed else f"{o.cause}: {o.note}"
        table.add_row(o.task_id, writes, str(o.turns), mark, note)
    console.print(table)
    failed = [o for o in outcomes if not o.passed]
    by_cause: dict[str, list[str]] = {}
    for o in failed:
        by_cause.setdefault(o.cause, []).append(o.task_id)
    if by_cause:
        causes = Table(title="failures by cause")
        for col in ("cause", "tasks", "ids"):
            causes.add_column(col, overflow="fold")
        for cause, ids in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
            causes.add_row(cause, str(len(ids)), ", ".join(ids))
        console.print(causes)
    n, ok = len(outcomes), len(outcomes) - len(failed)
    share = 100.0 * ok / n if n else 0.0
    console.print(f"[bold]{ok} / {n} tasks reach the gold state ({share:.1f} %)[/]")
    for o in outcomes if verbose else failed:
        console.rule(f"task {o.task_id}: {'pass' if o.passed else 'FAIL'}")
        console.print("\n".join(o.transcript), markup=False, highlight=False)
        for line in o.diff:
            console.print(f"  diff {line}", markup=False, highlight=False)


def write_json(path: Path, outcomes: list[Outcome], argv: list[str]) -> None:
    ok = sum(o.passed for o in outcomes)
    doc = {
        "benchmark": "tau2-bench retail",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "command": " ".join(["bench/tau2_retail.py", *argv]),
        "passed": ok,
        "total": len(outcomes),
        "share": round(ok / len(outcomes), 4) if outcomes else 0.0,
        "tasks": [
            {
                "id": o.task_id,
                "passed": o.passed,
                "turns": o.turns,
                "gold_writes": o.writes,
                "cause": o.cause,
                "note": o.note,
                "stuck": o.stuck,
                "requests_misread": o.misses,
                "answers_misread": o.misreads,
                "confirmed": o.confirmed,
                "diff": o.diff,
                "seconds": round(o.seconds, 2),
                "transcript": [] if o.passed else o.transcript,
            }
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated task ids (default: all 114)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--verbose", action="store_true", help="print every transcript")
    parser.add_argument("--max-turns", type=int, default=MAX_TURNS)
    parser.add_argument("--data", type=Path, default=RETAIL, help="τ²-bench retail folder")
    parser.add_argument(
        "--flows", type=Path, action="append", default=[], help="extra flow file (repeatable)"
    )
    parser.add_argument(
        "--oracle-intents",
        action="store_true",
        help="requests get their intent and no other message any: measures the flows alone",
    )
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="NLU without the classifier (nlu.classifier=false)",
    )
    args = parser.parse_args(argv)
    opts = Options(
        max_turns=args.max_turns,
        flow_paths=tuple(args.flows),
        oracle_intents=args.oracle_intents,
        nlu={"classifier": False} if args.rules_only else {},
    )
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    doc = json.loads((args.data / "db.json").read_text(encoding="utf-8"))
    tasks = json.loads((args.data / "tasks.json").read_text(encoding="utf-8"))
    if args.tasks:
        wanted = [t.strip() for t in args.tasks.split(",") if t.strip()]
        by_id = {str(t["id"]): t for t in tasks}
        unknown = [t for t in wanted if t not in by_id]
        if unknown:
            parser.error(f"unknown task ids: {', '.join(unknown)}")
        tasks = [by_id[t] for t in wanted]
    data = from_tau2(doc)
    console = Console()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="kefu-tau2-") as tmp:
        for task in tasks:
            plan = make_plan(doc, task)
            outcome = await run_task(data, plan, workdir=Path(tmp), opts=opts)
            classify(outcome)
            outcomes.append(outcome)
            mark = "pass" if outcome.passed else "FAIL"
            console.print(f"task {plan.task_id}: {mark} ({outcome.turns} turns)", style="dim")
    print_report(console, outcomes, verbose=args.verbose)
    if args.json:
        write_json(args.json, outcomes, argv)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
