"""Load benchmark: many concurrent WebSocket chats against a kefu server on this machine.

Each of N connections to ws://HOST:PORT/v1/ws?channel=bench plays short scripted
conversations on the rule/flow path (greeting -> order or parcel question -> order id ->
thanks, in Chinese and English). After each script it reconnects without a session id, so
the next script is a new conversation (`--same-connection` keeps the connection and the
session instead). Latency is the time from sending a message frame to its matching reply.

Pacing is open loop at a total `--rate` (messages/s) spread over the connections: a
connection sends its next message one interval (N / rate seconds) after the previous one
was due, or right after the previous reply if that came later. Connections open gradually
(`--ramp` per second), then `--warmup` seconds pass, then `--duration` seconds are measured.
Errors (error frames by code, failed connects, disconnects, timeouts, replies with another
client_msg_id, empty replies, and replies to a demo order id that do not mention it, as
when the order lookup timed out) are counted over the whole run, ramp and warm-up included.
The table also shows the p99 of connection handshakes (conn99), how far the client's own
sends fell behind schedule (lag99: if large, the load generator is the bottleneck), and
the CPU used over the window by the client, the server and everything else on the machine.

Run it:

    .venv/bin/python bench/load.py --spawn                        # the goal: 1000 conns, 500/s
    .venv/bin/python bench/load.py --spawn -c 100,500,1000 -r 250,500 --json out.json
    .venv/bin/python bench/load.py --port 8000 -c 200 -r 100      # a server you started
    .venv/bin/python bench/load.py --spawn --ws wsproto --http h11  # other uvicorn stacks

`--spawn` starts a fresh server per run (temporary KEFU_DATA_DIR, log level warning),
waits for /readyz and stops it afterwards. Only loopback targets are accepted. The run
always ends by itself: measurement window, message cap, per-message timeout and an overall
hard timeout. Exit status 2 means the harness failed (not that the goal was missed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import enum
import importlib.util
import ipaddress
import itertools
import json
import math
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

console = Console(width=None if sys.stdout.isatty() else 132)
T = TypeVar("T")

SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("你好", "查一下我的订单", "KF202611180002", "谢谢"),
    ("hi", "where is my parcel", "KF202611180002", "thanks"),
    ("物流到哪了", "KF202611200001"),
    ("你好", "我的订单到哪了", "KF202611100003", "谢谢"),
    ("hello", "check my order", "KF202611050004", "thank you"),
)
# Demo orders that exist: the reply to one of these ids must mention it.
ORDER_IDS = frozenset({"KF202611200001", "KF202611180002", "KF202611100003", "KF202611050004"})
IGNORED_FRAMES = frozenset({"push", "reply_delta", "agent_message", "pong"})
SERVER_RATE_LIMIT = 5.0  # the server's default per-connection and per-session msg/s
# Latencies in ms (conn99: connection handshakes, lag99: client sends behind schedule),
# CPU in % of one core over the measured window ("others": every other process).
HEADERS: tuple[str, ...] = ("conns", "rate", "got/s", "p50", "p95", "p99", "max", "conn99")
HEADERS += ("lag99", "client", "server", "others", "errors")
GOAL_CONNECTIONS, GOAL_RATE, GOAL_P99_MS = 1000, 500.0, 200.0
UVICORN_SNIPPET = (
    "import uvicorn; from kefu.api.app import create_app; "
    "uvicorn.run(create_app(), host='127.0.0.1', port={port}, ws={ws!r}, http={http!r}, "
    "log_level='warning', access_log=False, ws_max_size=65536)"
)


class HarnessError(Exception):
    """The benchmark itself could not run (as opposed to the server missing the goal)."""


class Outcome(enum.Enum):
    OK = "ok"  # the matching reply came
    ERROR = "error"  # a matching error frame came; the conversation goes on
    BROKEN = "broken"  # the connection is no longer usable


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    url: str
    connections: int
    rate: float
    duration: float
    warmup: float
    ramp: float
    max_messages: int
    msg_timeout: float
    hard_timeout: float
    compression: bool
    same_connection: bool

    @property
    def interval(self) -> float:
        return self.connections / self.rate

    @property
    def ramp_s(self) -> float:
        return self.connections / self.ramp


def _floats(value: str) -> list[float]:
    try:
        items = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        items = []
    if not items or any(v <= 0 for v in items):
        raise argparse.ArgumentTypeError(f"positive numbers separated by commas: {value!r}")
    return items


def _ints(value: str) -> list[int]:
    items = _floats(value)
    if any(v != int(v) for v in items):
        raise argparse.ArgumentTypeError(f"whole numbers separated by commas: {value!r}")
    return [int(v) for v in items]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1", help="loopback only")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--spawn", action="store_true", help="start a fresh server for each run")
    p.add_argument("--ws", help="with --spawn: uvicorn ws implementation (websockets, wsproto)")
    p.add_argument("--http", help="with --spawn: uvicorn http implementation (httptools, h11)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--server-pid", type=int, help="without --spawn: report this process's CPU")
    p.add_argument("-c", "--connections", type=_ints, default=[1000], help="e.g. 100,1000")
    p.add_argument("-r", "--rate", type=_floats, default=[500.0], help="total msg/s")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds after the ramp")
    p.add_argument("--ramp", type=float, default=200.0, help="new connections per second")
    p.add_argument("--max-messages", type=int, help="cap per run (default: 1.5x the plan)")
    p.add_argument("--timeout", type=float, default=10.0, help="per message and connect")
    p.add_argument("--hard-timeout", type=float, help="per run (default: the plan + 30 s)")
    p.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    p.add_argument("--same-connection", action="store_true", help="never reconnect")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args(argv)
    if (args.ws or args.http) and not args.spawn:
        p.error("--ws/--http choose the spawned server's stack; they need --spawn")
    return args


def run_configs(args: argparse.Namespace, url: str) -> Iterator[RunConfig]:
    for conns, rate in itertools.product(args.connections, args.rate):
        ramp_s = conns / args.ramp
        plan = ramp_s + args.warmup + args.duration
        yield RunConfig(
            url=url,
            connections=conns,
            rate=rate,
            duration=args.duration,
            warmup=args.warmup,
            ramp=args.ramp,
            max_messages=args.max_messages or int(rate * plan * 1.5) + conns,
            msg_timeout=args.timeout,
            hard_timeout=args.hard_timeout or plan + args.timeout + 30.0,
            compression=not args.no_compression,
            same_connection=args.same_connection,
        )


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise HarnessError(f"--host must be localhost or a loopback address, not {host!r}") from exc
    if not addr.is_loopback:
        raise HarnessError(f"refusing non-loopback target {host}: this benchmark is local only")


def raise_nofile(needed: int) -> int:
    """Raise the open-file limit as far as the hard limit allows; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(needed, 1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < needed:
        raise HarnessError(
            f"open-file limit {soft} (hard {hard}) is below the {needed} this run needs; "
            "raise it (ulimit -Hn) or use fewer connections"
        )
    return soft


# -- measurement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # time.monotonic()
    end: float


@dataclass(slots=True)
class Tally:
    window: Window
    budget: int
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)
    replies_in_window: int = 0
    sent: int = 0
    open_now: int = 0
    open_peak: int = 0
    capped: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)

    def take(self) -> bool:
        if self.sent >= self.budget:
            self.capped = True
            return False
        self.sent += 1
        return True

    def record(self, sent_at: float, got_at: float, lag: float) -> None:
        w = self.window
        if w.start <= sent_at < w.end:
            self.latencies.append(got_at - sent_at)
            self.lags.append(lag)
        if w.start <= got_at < w.end:
            self.replies_in_window += 1

    def opened(self, started: float, done: float) -> None:
        self.open_now += 1
        self.open_peak = max(self.open_peak, self.open_now)
        if self.window.start <= started < self.window.end:
            self.connects.append(done - started)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    connections: int
    target_rate: float
    achieved_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    send_lag_p99_ms: float
    connect_p99_ms: float
    connects: int
    sent: int
    measured: int
    open_peak: int
    open_at_start: int
    client_cpu_pct: float
    server_cpu_pct: float | None
    machine_cpu_pct: float
    capped: bool
    hard_timeout: bool
    errors: dict[str, int]
    answer_sources: dict[str, int]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


# -- one connection ------------------------------------------------------------------------


class Client:
    """One connection slot: plays scripts at its pace until the window closes."""

    def __init__(self, idx: int, cfg: RunConfig, tally: Tally) -> None:
        self.idx = idx
        self.cfg = cfg
        self.tally = tally
        self.scripts = itertools.islice(itertools.cycle(SCRIPTS), idx % len(SCRIPTS), None)
        self.due = 0.0
        self.seq = 0
        self.ws: ClientConnection | None = None
        self.closing: set[asyncio.Task[None]] = set()

    async def run(self, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.due = time.monotonic() + random.Random(self.idx).uniform(0.0, self.cfg.interval)
        try:
            while time.monotonic() < self.tally.window.end and not self.tally.capped:
                if self.ws is None and not await self._connect():
                    await asyncio.sleep(self.cfg.interval)
                    continue
                await self._play(next(self.scripts))
                if not self.cfg.same_connection:
                    await self._close()
        finally:
            await self._close()
            await asyncio.gather(*self.closing, return_exceptions=True)

    async def _connect(self) -> bool:
        started = time.monotonic()
        try:
            self.ws = await connect(
                self.cfg.url,
                open_timeout=self.cfg.msg_timeout,
                close_timeout=2.0,
                ping_interval=None,
                compression="deflate" if self.cfg.compression else None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.tally.errors[f"connect_failed:{type(exc).__name__}"] += 1
            return False
        now = time.monotonic()
        self.tally.opened(started, now)
        self.due = max(self.due, now)  # the send lag measures the client, not the handshake
        return True

    async def _close(self) -> None:
        """Start the closing handshake in the background: the next connect need not wait."""
        if self.ws is not None:
            ws, self.ws = self.ws, None
            self.tally.open_now -= 1
            task = asyncio.create_task(ws.close())
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)

    async def _play(self, script: tuple[str, ...]) -> None:
        for text in script:
            await asyncio.sleep(max(0.0, self.due - time.monotonic()))
            if self.ws is None or time.monotonic() >= self.tally.window.end:
                return
            if not self.tally.take():
                return
            outcome = await self._exchange(self.ws, text)
            self.due = max(self.due + self.cfg.interval, time.monotonic())
            if outcome is Outcome.BROKEN:
                await self._close()
                return

    async def _exchange(self, ws: ClientConnection, text: str) -> Outcome:
        self.seq += 1
        cmid = f"b{self.idx}-{self.seq}"
        frame = {"type": "message", "text": text, "client_msg_id": cmid}
        sent_at = time.monotonic()
        lag = sent_at - self.due
        try:
            await ws.send(orjson.dumps(frame).decode())
            async with asyncio.timeout(self.cfg.msg_timeout):
                outcome = await self._await_reply(ws, cmid, text)
        except TimeoutError:
            self.tally.errors["timeout"] += 1
            return Outcome.BROKEN
        except ConnectionClosed:
            self.tally.errors["disconnect"] += 1
            return Outcome.BROKEN
        if outcome is Outcome.OK:
            self.tally.record(sent_at, time.monotonic(), lag)
        return outcome

    async def _await_reply(self, ws: ClientConnection, cmid: str, text: str) -> Outcome:
        while True:
            try:
                frame = orjson.loads(await ws.recv())
            except orjson.JSONDecodeError:
                self.tally.errors["bad_frame"] += 1
                return Outcome.BROKEN
            if not isinstance(frame, dict):
                self.tally.errors["bad_frame"] += 1
                return Outcome.BROKEN
            kind = frame.get("type")
            if kind in IGNORED_FRAMES:
                continue
            if kind == "error":
                self.tally.errors[f"error:{frame.get('code')}"] += 1
                if frame.get("client_msg_id") is None:
                    continue  # not about this message (e.g. a session notice)
            if frame.get("client_msg_id") != cmid:
                self.tally.errors["wrong_client_msg_id"] += 1
                return Outcome.BROKEN
            if kind == "error":
                return Outcome.ERROR
            if kind != "reply":
                self.tally.errors[f"unexpected_frame:{kind}"] += 1
                return Outcome.BROKEN
            self.tally.sources[str(frame.get("answer_source"))] += 1
            self._check_answer(text, frame)
            return Outcome.OK

    def _check_answer(self, text: str, frame: dict[str, Any]) -> None:
        """A reply can be well-formed and still fail the customer: check what we can."""
        replies = frame.get("replies")
        if not isinstance(replies, list) or not replies:
            self.tally.errors["empty_reply"] += 1
        elif text in ORDER_IDS and not any(
            isinstance(r, dict) and text in str(r.get("text", "")) for r in replies
        ):
            self.tally.errors["order_not_answered"] += 1  # e.g. the lookup action timed out


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU use over the window in % of one core (a 2-core machine has 200 %)."""

    client: float
    server: float | None
    machine: float  # every process, this benchmark and the server included


def _cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) of `pid`, or of this process if None."""
    if pid is None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return math.nan


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return math.nan


def _cpu_now(server_pid: int | None) -> tuple[float, float, float, float]:
    pid_cpu = _cpu_seconds(server_pid) if server_pid is not None else math.nan
    return time.monotonic(), _cpu_seconds(None), pid_cpu, _machine_busy_seconds()


async def _sample_cpu(tally: Tally, server_pid: int | None) -> tuple[CpuUse, int]:
    """CPU use over the measurement window, and how many connections were open at its start."""
    w = tally.window
    await asyncio.sleep(max(0.0, w.start - time.monotonic()))
    before = _cpu_now(server_pid)
    open_at_start = tally.open_now
    await asyncio.sleep(max(0.0, w.end - time.monotonic()))
    after = _cpu_now(server_pid)
    client, server, machine = (
        100.0 * (b - a) / (after[0] - before[0]) for a, b in zip(before[1:], after[1:], strict=True)
    )
    return CpuUse(client, server if server_pid is not None else None, machine), open_at_start


async def run_once(cfg: RunConfig, server_pid: int | None) -> RunResult:
    t0 = time.monotonic()
    start = t0 + cfg.ramp_s + cfg.warmup
    tally = Tally(window=Window(start, start + cfg.duration), budget=cfg.max_messages)
    clients = [Client(i, cfg, tally) for i in range(cfg.connections)]
    sampler = asyncio.create_task(_sample_cpu(tally, server_pid))
    hard_timeout = False
    try:
        async with asyncio.timeout(cfg.hard_timeout):
            await asyncio.gather(*(c.run(t0 + i / cfg.ramp) for i, c in enumerate(clients)))
            cpu, open_at_start = await sampler
    except TimeoutError:
        hard_timeout = True
        sampler.cancel()
        cpu, open_at_start = CpuUse(math.nan, None, math.nan), tally.open_now
    return summarize(cfg, tally, cpu=cpu, open_at_start=open_at_start, hard_timeout=hard_timeout)


def summarize(
    cfg: RunConfig, tally: Tally, *, cpu: CpuUse, open_at_start: int, hard_timeout: bool
) -> RunResult:
    lat = sorted(v * 1000.0 for v in tally.latencies)
    lags = sorted(v * 1000.0 for v in tally.lags)
    return RunResult(
        connections=cfg.connections,
        target_rate=cfg.rate,
        achieved_rate=tally.replies_in_window / cfg.duration,
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99),
        max_ms=lat[-1] if lat else 0.0,
        send_lag_p99_ms=percentile(lags, 99),
        connect_p99_ms=percentile(sorted(v * 1000.0 for v in tally.connects), 99),
        connects=len(tally.connects),
        sent=tally.sent,
        measured=len(lat),
        open_peak=tally.open_peak,
        open_at_start=open_at_start,
        client_cpu_pct=cpu.client,
        server_cpu_pct=cpu.server,
        machine_cpu_pct=cpu.machine,
        capped=tally.capped,
        hard_timeout=hard_timeout,
        errors=dict(sorted(tally.errors.items())),
        answer_sources=dict(sorted(tally.sources.items())),
    )


# -- a spawned server ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli_has_main_guard() -> bool:
    spec = importlib.util.find_spec("kefu.cli")
    if spec is None or spec.origin is None:
        return False
    return 'if __name__ == "__main__":' in Path(spec.origin).read_text(encoding="utf-8")


def server_command(port: int, *, ws: str | None, http: str | None) -> list[str]:
    if ws or http:
        code = UVICORN_SNIPPET.format(port=port, ws=ws or "auto", http=http or "auto")
        return [sys.executable, "-c", code]
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if _cli_has_main_guard():
        return [sys.executable, "-m", "kefu.cli", *args]
    return [str(Path(sys.executable).parent / "kefu"), *args]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies, so no server is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SpawnedServer:
    """A fresh server with its own temporary data folder, stopped on exit."""

    def __init__(self, *, ws: str | None, http: str | None, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.cmd = server_command(self.port, ws=ws, http=http)
        self.env = env
        self.tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> SpawnedServer:
        env = {**os.environ, "KEFU_DATA_DIR": str(self.tmp / "data"), **self.env}
        with (self.tmp / "server.log").open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=env,
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        try:
            await self._wait_ready(30.0)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _wait_ready(self, timeout: float) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise HarnessError(f"the server exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise HarnessError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            for _ in range(100):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = (self.tmp / "server.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no server log)"


# -- reporting and main --------------------------------------------------------------------


def machine_info(server_env: dict[str, str]) -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "source": (
            f"PYTHONPATH={server_env['PYTHONPATH']}"
            if "PYTHONPATH" in server_env
            else source_revision()
        ),
    }


def _row(r: RunResult) -> list[str]:
    errors = ", ".join(f"{k}={v}" for k, v in r.errors.items()) or "0"
    if r.capped:
        errors += " (capped)"
    if r.hard_timeout:
        errors += " (HARD TIMEOUT)"
    server = r.server_cpu_pct if r.server_cpu_pct is not None else math.nan
    other = r.machine_cpu_pct - r.client_cpu_pct - (0.0 if math.isnan(server) else server)
    ms = (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms, r.connect_p99_ms, r.send_lag_p99_ms)
    cpus = (r.client_cpu_pct, server, other)
    return [
        str(r.connections),
        f"{r.target_rate:.0f}",
        f"{r.achieved_rate:.1f}",
        *(f"{v:.1f}" for v in ms),
        *("-" if math.isnan(v) else f"{v:.0f}" for v in cpus),
        errors,
    ]


def _git(*args: str) -> str:
    repo = str(Path(__file__).resolve().parent.parent)
    cmd = ["git", "--no-optional-locks", "-C", repo, *args]  # read only: never takes a lock
    return subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout


def source_revision() -> str:
    """The commit the server code comes from, and whether src/ differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        dirty = _git("status", "--porcelain", "--untracked-files=no", "src").strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def results_table(results: list[RunResult]) -> Table:
    table = Table(title="kefu WebSocket load: latency send -> reply (ms), cpu (% of a core)")
    for name in HEADERS:
        table.add_column(name, justify="left" if name == "errors" else "right")
    for r in results:
        table.add_row(*_row(r))
    return table


def goal_line(r: RunResult) -> str:
    # Within 1 % of the target counts as the target: the window edges cut turns in half.
    ok = r.achieved_rate >= GOAL_RATE * 0.99 and r.p99_ms <= GOAL_P99_MS and not r.errors
    verdict = "[green]met[/]" if ok else "[red]missed[/]"
    return (
        f"goal (>= {GOAL_RATE:.0f} msg/s, p99 <= {GOAL_P99_MS:.0f} ms, 0 errors, "
        f"{GOAL_CONNECTIONS} conns): {verdict} at {r.connections} conns / "
        f"{r.target_rate:.0f} per s"
    )


async def run_all(args: argparse.Namespace) -> list[RunResult]:
    results: list[RunResult] = []
    env = server_env(args)
    for cfg in run_configs(args, _ws_url(args.host, args.port)):
        if cfg.rate / cfg.connections > 0.9 * SERVER_RATE_LIMIT:
            console.print(
                f"[yellow]note:[/] {cfg.rate / cfg.connections:.2f} msg/s per "
                f"connection is near the server's default limit of {SERVER_RATE_LIMIT}"
            )
        if args.spawn:
            async with SpawnedServer(ws=args.ws, http=args.http, env=env) as server:
                spawned = _with_port(cfg, server.port)
                console.print(
                    f"[dim]server pid {server.proc.pid if server.proc else '?'}: "
                    f"{shlex.join(server.cmd)[:160]}[/]"
                )
                result = await run_once(spawned, server.proc.pid if server.proc else None)
        else:
            result = await run_once(cfg, args.server_pid)
        console.print(results_table([result]))
        results.append(result)
    return results


def server_env(args: argparse.Namespace) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in args.server_env)


def _ws_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"ws://{shown}:{port}/v1/ws?channel=bench"


def _with_port(cfg: RunConfig, port: int) -> RunConfig:
    return RunConfig(**{**asdict(cfg), "url": _ws_url("127.0.0.1", port)})


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_loopback(args.host)
        limit = raise_nofile(max(args.connections) + 256)
        results: list[RunResult] = _run(run_all(args))
    except HarnessError as exc:
        console.print(f"[red]harness failure:[/] {exc}")
        return 2
    if len(results) > 1:
        console.print(results_table(results))
    for r in results:
        if r.connections >= GOAL_CONNECTIONS and r.target_rate >= GOAL_RATE:
            console.print(goal_line(r))
    info = machine_info(server_env(args))
    console.print(
        f"[dim]{info['nproc']} cpus, {info['cpu']}, open-file limit {limit}, "
        f"load average now {info['loadavg']}, server code {info['source']}[/]"
    )
    if args.json:
        doc = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
            "machine": info,
            "runs": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if any(r.open_peak == 0 for r in results):
        console.print("[red]harness failure:[/] no connection could be opened at all")
        return 2
    if any(r.hard_timeout for r in results):
        console.print("[red]harness failure:[/] a run hit its hard timeout")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
