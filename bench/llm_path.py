"""LLM-path benchmark: what kefu adds to the model's own time, and what a model outage does.

Two processes are started on loopback: the fake OpenAI-compatible server
(`kefu.testing.fake_openai`, answering as the simulated model of `kefu.testing.sim_llm`,
with a set time to first token and tokens/s) and a kefu server pointed at it, with a few
documents of our own imported into its knowledge base. N WebSocket conversations then run
at once, each alternating two turns that both go through the model:

- `command`: a vague message stage 1 flags ("the thing i got is kinda weird ..."), so NLU
  stage 2 asks the model for commands (structured output, not streamed);
- `answer`: a question only a document answers, so the grounded answer is streamed
  (`reply_delta` frames) and checked.

Every message carries a `[ref:TAG]` mark; the fake server reports, per tag, how long it
took to answer (from reading the request to its last byte). kefu's overhead for a turn is
the client's latency (message sent -> final `reply` frame) minus the model time of that
turn's request(s). Each conversation starts at a random point of its think time, then waits
50-150 % of `--think` seconds between its turns (a steady load, not waves); turns of the
first `--warmup` seconds are not counted.

`--outage` then runs the phases ok -> 100 % errors -> no answers (hangs) -> ok on the
fake server while the conversations go on, and reports per phase how long replies took,
where they came from (llm / faq / kb / flow / fallback), when the circuit breaker opened
(kefu's /metrics, polled) and when LLM answers came back after the model did.

    .venv/bin/python bench/llm_path.py                      # the issue's setting
    .venv/bin/python bench/llm_path.py -c 50 --duration 20 --outage --phase 15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from kefu.testing.server import ServerProcess, free_port

DOCS = [
    {
        "id": "ship-hk-mo",
        "title": "Shipping to Hong Kong and Macau",
        "content": "Parcels to Hong Kong and Macau leave our warehouse within 24 hours and "
        "arrive in five to seven working days. Customs duty, if any, is paid by the shop.",
    },
    {
        "id": "gift-wrap",
        "title": "Gift wrapping and greeting cards",
        "content": "Gift wrapping costs 8 yuan per parcel and includes a handwritten greeting "
        "card. Choose it at checkout; it cannot be added after the order has shipped.",
    },
    {
        "id": "battery-air",
        "title": "Power banks and air freight",
        "content": "Power banks above 20000 mAh cannot travel by air, so they are sent by "
        "road and take two extra days. Smaller power banks ship normally.",
    },
]
QUESTIONS = [
    "Who pays customs duty on parcels to Macau?",
    "How much does gift wrapping with a greeting card cost?",
    "Can a 30000 mAh power bank go by air freight?",
]
VAGUE = [
    "the thing i got is kinda weird and i dunno",
    "hmm so about that stuff from before, not sure what to do",
]


@dataclass
class Turn:
    tag: str
    kind: str
    phase: str
    sent: float
    first_delta: float | None = None
    done: float | None = None
    source: str = ""
    error: str = ""


@dataclass
class Run:
    turns: list[Turn] = field(default_factory=list)
    phase: str = "ok"
    stop: bool = False
    breaker: list[tuple[float, float]] = field(default_factory=list)  # (t, max state)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds used by everything on the machine so far (/proc/stat, not idle)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(parts) - parts[3] - parts[4]) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


async def conversation(i: int, url: str, run: Run, think: float, timeout: float) -> None:
    counter = itertools.count()
    rng = random.Random(i)
    # Customers do not all press enter at once: start at a random point of the think time
    # and think for 50-150 % of it, so the load is steady rather than in waves.
    await asyncio.sleep(rng.uniform(0, think))
    while not run.stop:
        try:
            async with websockets.connect(url, open_timeout=10, max_size=2**20) as ws:
                while not run.stop:
                    for kind in ("command", "answer"):
                        n = next(counter)
                        tag = f"c{i}-{n}"
                        base = VAGUE[n % len(VAGUE)] if kind == "command" else QUESTIONS[i % 3]
                        turn = Turn(tag=tag, kind=kind, phase=run.phase, sent=time.perf_counter())
                        run.turns.append(turn)
                        frame = {"type": "message", "text": f"{base} [ref:{tag}]", "lang": "en"}
                        await ws.send(json.dumps({**frame, "client_msg_id": tag}))
                        await receive_turn(ws, turn, timeout)
                        if turn.error:
                            raise ConnectionError(turn.error)
                        await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                        if run.stop:
                            return
        except (OSError, websockets.WebSocketException, ConnectionError):
            await asyncio.sleep(0.5)


async def receive_turn(ws: websockets.ClientConnection, turn: Turn, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            turn.error = "timeout"
            return
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            turn.error = "timeout"
            return
        frame = json.loads(raw)
        if frame.get("client_msg_id") != turn.tag:
            continue
        if frame["type"] == "reply_delta":
            if turn.first_delta is None:
                turn.first_delta = time.perf_counter()
            continue
        turn.done = time.perf_counter()
        if frame["type"] == "reply":
            turn.source = frame.get("answer_source", "")
        else:
            turn.error = frame.get("code", "error")
        return


async def poll_breaker(base: str, run: Run, t0: float) -> None:
    async with httpx.AsyncClient(timeout=2.0) as client:
        while not run.stop:
            with contextlib.suppress(httpx.HTTPError):
                text = (await client.get(f"{base}/metrics")).text
                states = [
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("kefu_llm_breaker_state{")
                ]
                run.breaker.append((time.perf_counter() - t0, max(states, default=0.0)))
            await asyncio.sleep(0.25)


def start_fake(port: int, ttft: float, tps: float, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "kefu.testing.fake_openai", "--port", str(port),
        "--ttft", str(ttft), "--tps", str(tps),
        "--responder", "kefu.testing.sim_llm:respond_openai",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the fake model server did not start")


def control(port: int, **change: object) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_control", json=change, timeout=5).raise_for_status()


async def drive(args: argparse.Namespace, kefu_url: str, fake_port: int) -> Run:
    run = Run()
    ws_url = kefu_url.replace("http://", "ws://") + "/v1/ws?channel=bench"
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(conversation(i, ws_url, run, args.think, args.turn_timeout))
        for i in range(args.conversations)
    ]
    poller = asyncio.create_task(poll_breaker(kefu_url, run, t0))
    run.phase = "warmup"
    await asyncio.sleep(args.warmup)
    phases = [("ok", args.duration, {"mode": "ok", "error_rate": 0})]
    if args.outage:
        phases = [
            ("ok", args.phase, {"mode": "ok", "error_rate": 0}),
            ("errors", args.phase, {"mode": "error"}),
            ("hangs", args.phase, {"mode": "timeout"}),
            ("recovered", args.phase * 2, {"mode": "ok"}),
        ]
    starts: dict[str, float] = {}
    for i, (name, seconds, change) in enumerate(phases):
        await asyncio.to_thread(control, fake_port, **change)
        run.phase = name
        starts[name] = time.perf_counter() - t0
        if i == 0:
            before = (cpu_seconds(args.kefu_pid), cpu_seconds(args.fake_pid), machine_cpu())
            me = time.process_time()
        await asyncio.sleep(seconds)
        if i == 0:
            after = (cpu_seconds(args.kefu_pid), cpu_seconds(args.fake_pid), machine_cpu())
            run.cpu = {  # type: ignore[attr-defined]
                "kefu": (after[0] - before[0]) / seconds,
                "fake model": (after[1] - before[1]) / seconds,
                "client": (time.process_time() - me) / seconds,
                "machine": (after[2] - before[2]) / seconds,
            }
    run.stop = True
    await asyncio.sleep(args.turn_timeout)
    for t in [*tasks, poller]:
        t.cancel()
    await asyncio.gather(*tasks, poller, return_exceptions=True)
    run.breaker.insert(0, (-1.0, 0.0))
    run.starts = starts  # type: ignore[attr-defined]
    run.t0 = t0  # type: ignore[attr-defined]
    return run


def report(args: argparse.Namespace, run: Run, model_time: dict[str, float]) -> str:
    lines = [
        f"# LLM path — {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python bench/llm_path.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; kefu, the fake model server and this client share it.  ",
        f"Simulated model: {args.ttft * 1000:.0f} ms to first token, {args.tps:g} tokens/s; "
        f"{args.conversations} conversations at once, {args.think:g} s (50-150 %) between a "
        f"conversation's turns, {args.warmup:g} s warm-up not counted.",
        "",
    ]
    done = [t for t in run.turns if t.phase == "ok" and t.done is not None and not t.error]
    lines += [
        "## Overhead on the LLM path (phase ok)",
        "",
        "| turn | n | model p50 ms | turn p50 ms | turn p99 ms | overhead p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("command", "answer", "all"):
        rows = [t for t in done if kind in ("all", t.kind) and t.tag in model_time]
        lat = [(t.done - t.sent) * 1000 for t in rows if t.done]
        model = [model_time[t.tag] * 1000 for t in rows]
        over = [(t.done - t.sent - model_time[t.tag]) * 1000 for t in rows if t.done]
        lines.append(
            f"| {kind} | {len(rows)} | {pct(model, 50):.0f} | {pct(lat, 50):.0f} | "
            f"{pct(lat, 99):.0f} | {pct(over, 50):.1f} | {pct(over, 95):.1f} | "
            f"{pct(over, 99):.1f} |"
        )
    no_model = [t for t in done if t.tag not in model_time]
    srcs = Counter(t.source for t in done)
    dur = args.phase if args.outage else args.duration
    lines += [
        "",
        f"Turns answered: {len(done)} ({len(done) / dur:.0f}/s); answer sources "
        f"{dict(srcs)}; turns without a model call: {len(no_model)}; errors or timeouts: "
        f"{sum(1 for t in run.turns if t.phase == 'ok' and t.error)}.",
        "",
        "CPU over the measured phase, in cores: "
        + ", ".join(f"{k} {v:.2f}" for k, v in run.cpu.items())  # type: ignore[attr-defined]
        + f" (of {os.cpu_count()}); kefu per turn: "
        + f"{run.cpu['kefu'] * dur / max(1, len(done)) * 1000:.1f} ms.",  # type: ignore[attr-defined]
        "",
    ]
    if args.outage:
        lines += outage_table(args, run)
    return "\n".join(lines) + "\n"


def outage_table(args: argparse.Namespace, run: Run) -> list[str]:
    starts: dict[str, float] = run.starts  # type: ignore[attr-defined]
    t0: float = run.t0  # type: ignore[attr-defined]
    lines = [
        "## Model outage",
        "",
        "| phase | turns | no reply | reply p50 ms | p99 ms | max ms | over 1 s | sources |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_phase: dict[str, list[Turn]] = defaultdict(list)
    for t in run.turns:
        by_phase[t.phase].append(t)
    for name in ("ok", "errors", "hangs", "recovered"):
        turns = by_phase.get(name, [])
        lat = [(t.done - t.sent) * 1000 for t in turns if t.done is not None and not t.error]
        missing = sum(1 for t in turns if t.done is None or t.error)
        slow = sum(1 for x in lat if x > 1000)
        srcs = dict(Counter(t.source for t in turns if t.source))
        lines.append(
            f"| {name} | {len(turns)} | {missing} | {pct(lat, 50):.0f} | {pct(lat, 99):.0f} | "
            f"{max(lat, default=float('nan')):.0f} | {slow} | {srcs} |"
        )
    opened = next((t for t, s in run.breaker if t >= starts["errors"] and s >= 2.0), None)
    rec = starts["recovered"]
    back = next(
        (
            t.done - t0
            for t in sorted(run.turns, key=lambda x: x.sent)
            if t.phase == "recovered" and t.source == "llm" and t.done is not None
        ),
        None,
    )
    opened_s = (
        f"The breaker opened {opened - starts['errors']:.2f} s after the errors began"
        if opened is not None
        else "The breaker never opened"
    )
    back_s = (
        f"the first LLM answer came {back - rec:.2f} s after the model came back."
        if back is not None
        else "no LLM answer came after the model came back."
    )
    lines += ["", f"{opened_s}; {back_s}", ""]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-c", "--conversations", type=int, default=200)
    p.add_argument("--duration", type=float, default=30.0, help="seconds measured (no outage)")
    p.add_argument("--outage", action="store_true", help="run the outage phases instead")
    p.add_argument("--phase", type=float, default=20.0, help="seconds per outage phase")
    p.add_argument("--ttft", type=float, default=0.3)
    p.add_argument("--tps", type=float, default=40.0)
    p.add_argument("--think", type=float, default=10.0, help="mean seconds between turns")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds not counted at first")
    p.add_argument("--turn-timeout", type=float, default=15.0)
    p.add_argument("--stage2-timeout", type=float, default=0.8)
    p.add_argument("--first-token-timeout", type=float, default=0.8)
    p.add_argument("--output", type=Path, default=Path("bench/results/llm_path.md"))
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="kefu-llm-bench-") as tmp:
        data = Path(tmp)
        fake_port = free_port()
        fake = start_fake(fake_port, args.ttft, args.tps, data / "fake.log")
        env = {
            "KEFU_ENV": "test",
            "KEFU_LLM__BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
            "KEFU_LLM__STAGE2_TIMEOUT_S": str(args.stage2_timeout),
            "KEFU_LLM__FIRST_TOKEN_TIMEOUT_S": str(args.first_token_timeout),
            "KEFU_LLM__MAX_CONCURRENCY": str(max(64, args.conversations)),
            "KEFU_LLM__BREAKER__OPEN_S": "5",
            "KEFU_LIMITS__PER_CONNECTION_RATE": "50",
            "KEFU_LIMITS__PER_SESSION_RATE": "50",
        }
        docs = data / "docs.jsonl"
        docs.write_text("\n".join(json.dumps(d) for d in DOCS), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "kefu.cli", "kb", "import", str(docs), "--lang", "en"],
            env={**os.environ, **env, "KEFU_DATA_DIR": str(data)},
            check=True,
            capture_output=True,
        )
        server = ServerProcess(data_dir=data, env=env).start(timeout_s=90)
        assert server.proc is not None
        args.kefu_pid, args.fake_pid = server.proc.pid, fake.pid
        try:
            run = asyncio.run(drive(args, server.url, fake_port))
            raw = httpx.get(f"http://127.0.0.1:{fake_port}/_timings", timeout=10).json()
        finally:
            server.stop()
            fake.terminate()
            fake.wait(10)
    model_time: dict[str, float] = defaultdict(float)
    for tag, seconds in raw["timings"]:
        model_time[tag] += seconds
    text = report(args, run, model_time)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
