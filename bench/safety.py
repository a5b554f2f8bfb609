"""Safety benchmarks (not tests). One subcommand per part:

    .venv/bin/python bench/safety.py pii           # all records; writes bench/results/safety-pii.md
    .venv/bin/python bench/safety.py pii --dev     # first 100 records per file, errors shown

`pii`: PII detection on MultiPriv (../shared/evaldata/pii-multipriv, CC BY-NC-SA 4.0, read by
path only, never copied), recall and precision per type on `naturalParagraph`, with gold spans
found by searching the paragraph for the record's structured fields; masking time per
paragraph; and, as a false-positive check on real shop text, what the detector finds in real
customer lines whose PII the publishers already replaced (JDDC, Bitext).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kefu.safety.pii import PiiSpan, PiiVault, default_detector
from kefu.safety.pii_data import sections, words
from kefu.safety.pii_numbers import id18_valid

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "evaldata"
MULTIPRIV = EVAL / "pii-multipriv"
JDDC = EVAL / "zh-ecommerce-cs" / "jddc2019" / "chat_0.1per.txt"
BITEXT = EVAL / "bitext-customer-support-en" / "Bitext_20K_utterances_sample.csv"
OUT = ROOT / "bench" / "results" / "safety-pii.md"
TYPES = ("phone", "id", "email", "address", "name")
GOALS = {"phone": 0.995, "id": 0.995, "email": 0.995, "address": 0.95, "name": 0.90}
DEV_RECORDS = 100
HISTORY = (
    "History: the first run on all records (18:16 UTC) gave the same recall as above except "
    "zh address 0.9969 (3 misses, all in 和平路 / 颐和路: 和 ended a street name) and en "
    "e-mail 0.9839 (9 local parts with an apostrophe, O'Donnell, which RFC 5322 allows). "
    "Those two rules were fixed after that run because they are wrong for any text; so were, "
    "after reading every span found in the JDDC / Bitext check, three precision bugs: "
    '"card" inside "ID card" counted as a card cue (1 false card in en), a space after '
    "a cue word counted as a separator (是买家 方便联系), and a surname inside a title word "
    "(师傅刚刚, 帅哥). Nothing else was changed after looking at the full set; the figures "
    "in this file are from the final code."
)
# Titles and degrees written in the name fields but not part of the name itself.
_EN_TITLE = re.compile(
    r"^(?:mr|mrs|ms|miss|dr|prof)\.?\s+|,?\s+(?:jr|sr|md|phd|ph\.d|dds|dvm|ii|iii|iv)\.?$", re.I
)
_ZH_TITLE = re.compile(r"(?:主任医师|副主任医师|医师|医生|大夫|博士|教授|主任|先生|女士)$")


@dataclass
class Tally:
    gold: int = 0
    found: int = 0  # masked with the right type
    masked: int = 0  # masked with any type (no leak)
    predicted: int = 0
    correct: int = 0
    unjudged: int = 0
    absent: int = 0  # field not written in the paragraph: not scored
    misses: list[str] = field(default_factory=list)
    missed_values: list[str] = field(default_factory=list)
    checksum_ok: list[int] = field(default_factory=lambda: [0, 0])  # IDs: [gold, found]
    false: list[str] = field(default_factory=list)


@dataclass
class Timing:
    """Masking time of texts: wall clock and this thread's CPU time (other jobs on the
    shared machine inflate the first, not the second)."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    chars: int = 0

    def measure(self, text: str) -> None:
        detector = default_detector()
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        PiiVault(detector=detector).mask(text)
        self.wall.append(time.perf_counter_ns() - t0)
        self.cpu.append(time.thread_time_ns() - c0)
        self.chars += len(text)

    def row(self, label: str) -> str:
        n = len(self.wall)
        return (
            f"| {label} | {n} | {self.chars / n:.0f} | {pct(self.wall, 0.5):.3f} "
            f"| {pct(self.wall, 0.99):.3f} | {max(self.wall) / 1e6:.3f} "
            f"| {pct(self.cpu, 0.5):.3f} | {pct(self.cpu, 0.99):.3f} |"
        )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _occurrences(text: str, value: str) -> list[tuple[int, int]]:
    if not value:
        return []
    rx = re.compile(re.escape(value), re.IGNORECASE)
    return [m.span() for m in rx.finditer(text)]


def gold_spans(rec: dict[str, object], lang: str) -> dict[str, tuple[list[tuple[int, int]], bool]]:
    """type -> (gold spans, whether some field of the type was not found in the paragraph).

    Phone, ID, e-mail and address: the field's value, case-insensitively. E-mail fields with
    a stray space ("pablo_ richter@…") are also looked up without it / with a dot, as the
    paragraphs write them. Names: `name` and `doctor`, without titles and degrees (Dr., MD,
    医生); a field whose spelling differs in the paragraph ("Dany Smith" for "DaNnY sMitH") is
    not scored."""
    text = str(rec["naturalParagraph"])
    out: dict[str, tuple[list[tuple[int, int]], bool]] = {}
    fields = {
        "phone": [str(rec["phoneNumbers"])],
        "id": [str(rec["idCardNumbers"])],
        "email": [str(rec["emailAddress"])],
        "address": [str(rec["location"])],
        "name": [str(rec["name"]), str(rec["doctor"])],
    }
    for kind, values in fields.items():
        spans: list[tuple[int, int]] = []
        absent = False
        for value in values:
            variants = [value]
            if kind == "email" and " " in value:
                variants += [value.replace(" ", ""), value.replace(" ", ".")]
            if kind == "name":
                variants = [_ZH_TITLE.sub("", _EN_TITLE.sub("", value)).strip()]
            found = next((o for v in variants if (o := _occurrences(text, v))), [])
            spans += found
            absent = absent or not found
        out[kind] = (spans, absent)
    return out


def partial_names(rec: dict[str, object], text: str) -> list[tuple[int, int]]:
    """Shorter mentions of the same people, fine to mask but not required: one word of an
    English name ("Bobby has …"), a Chinese surname before a title ("白女士")."""
    spans: list[tuple[int, int]] = []
    for value in (str(rec["name"]), str(rec["doctor"])):
        for w in re.findall(r"[A-Za-z]{3,}", _EN_TITLE.sub("", value)):
            spans += [m.span() for m in re.finditer(rf"\b{w}\b", text, re.I)]
        if value[:1] and "\u4e00" <= value[0] <= "\u9fff":
            rx = rf"{re.escape(value[0])}(?=先生|女士|小姐|医生|医师|大夫|教授|博士)"
            spans += [m.span() for m in re.finditer(rx, text)]
    return spans


def card_spans(rec: dict[str, object], text: str) -> list[tuple[int, int]]:
    """Card numbers in `transactionDetails` (a few zh records) that the paragraph repeats."""
    numbers = re.findall(r"\d{15,19}", str(rec["transactionDetails"]))
    return [span for n in numbers for span in _occurrences(text, n)]


def _covered(span: tuple[int, int], preds: list[PiiSpan], text: str) -> bool:
    need = {i for i in range(*span) if not text[i].isspace()}
    for p in preds:
        need -= set(range(p.start, p.end))
    return not need


def score_file(path: Path, lang: str, limit: int | None, tallies: dict[str, Tally]) -> Timing:
    records = json.loads(path.read_text("utf-8"))[:limit]
    detector = default_detector()
    timing = Timing()
    for rec in records:
        text = str(rec["naturalParagraph"])
        timing.measure(text)
        preds = detector.find(text)
        gold = gold_spans(rec, lang)
        ok_extra = partial_names(rec, text)
        gold["card"] = (card_spans(rec, text), False)
        for kind in (*TYPES, "card"):
            t = tallies[f"{lang}:{kind}"]
            spans, absent = gold[kind]
            t.absent += absent
            of_type = [p for p in preds if p.type == kind]
            for s in spans:
                t.gold += 1
                t.found += _covered(s, of_type, text)
                t.masked += _covered(s, preds, text)
                if kind == "id" and id18_valid(text[s[0] : s[1]]):
                    t.checksum_ok[0] += 1
                    t.checksum_ok[1] += _covered(s, of_type, text)
                if not _covered(s, of_type, text):
                    t.missed_values.append(text[s[0] : s[1]])
                    t.misses.append(
                        f"{text[s[0] : s[1]]!r} in …{text[max(0, s[0] - 30) : s[1] + 30]}…"
                    )
            allowed = spans + (ok_extra if kind == "name" else [])
            for p in of_type:
                t.predicted += 1
                if any(p.start < e and s < p.end for s, e in allowed):
                    t.correct += 1
                elif absent:
                    t.unjudged += 1
                else:
                    t.false.append(f"{p.value!r} in …{text[max(0, p.start - 30) : p.end + 30]}…")
    return timing


def real_lines(limit: int) -> dict[str, list[str]]:
    zh: list[str] = []
    for line in JDDC.read_text("utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 7 and cols[2] == "0" and 0 < len(cols[6]) <= 200:
            zh.append(cols[6])
    with BITEXT.open(encoding="utf-8-sig", newline="") as f:
        en = [row["utterance"] for row in csv.DictReader(f) if len(row["utterance"]) <= 200]
    return {"JDDC customer lines (zh)": zh[:limit], "Bitext utterances (en)": en[:limit]}


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def machine() -> str:
    model = ""
    if Path("/proc/cpuinfo").exists():
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = m.group(1).strip() if m else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"2-core VM (`nproc` {os.cpu_count()}, {model}), Python {platform.python_version()}, "
        f"{platform.system()}; load average at the end {load}"
    )


def why_name_missed(value: str) -> str:
    """A rough reason for a missed name, from the word lists the finder uses."""
    if value.isascii():
        first = value.split()[0]
        if not first[0].isupper():
            return 'en: first letter lower-case ("heatHER mIller")'
        if first.lower() not in {w.lower() for w in words("first_names_en.txt")}:
            return "en: first name not in first_names_en.txt"
        return "en: other (context, surname word)"
    sur = sections("surnames_zh.txt")
    n = 2 if value[:2] in sur["compound"] | sur["compound_cued"] else 1
    if value[:n] not in sur["common"] | sur["compound"]:
        cued = value[:n] in sur["cued"] | sur["compound_cued"]
        return "zh: surname needs a cue (cued list)" if cued else "zh: surname not listed"
    if any(c not in words("given_chars_zh.txt") for c in value[n:]):
        return "zh: a given-name character not in given_chars_zh.txt (然 新 东 成 心 阳 …)"
    return "zh: other (context, boundaries)"


def cold_build_ms() -> tuple[float, float]:
    """Import and first build of the default detector in a fresh interpreter (ms)."""
    code = (
        "import time; t0 = time.perf_counter(); import kefu.safety.pii as p; "
        "t1 = time.perf_counter(); p.default_detector(); t2 = time.perf_counter(); "
        "print((t1 - t0) * 1e3, (t2 - t1) * 1e3)"
    )
    out = os.popen(f"{sys.executable} -c '{code}'").read().split()
    return float(out[0]), float(out[1])


def run_pii(args: argparse.Namespace) -> None:
    limit = DEV_RECORDS if args.dev else None
    tallies: dict[str, Tally] = {
        f"{lang}:{k}": Tally() for lang in ("zh", "en") for k in (*TYPES, "card")
    }
    import_ms, build_ms = cold_build_ms()
    timings = {
        "MultiPriv zh paragraphs": score_file(
            MULTIPRIV / "data_person_1000_zh.json", "zh", limit, tallies
        ),
        "MultiPriv en paragraphs": score_file(
            MULTIPRIV / "data_person_1000_en.json", "en", limit, tallies
        ),
    }
    detector = default_detector()
    real: dict[str, Counter[str]] = {}
    real_examples: list[str] = []
    for label, lines in real_lines(1000 if args.dev else 4000).items():
        counts: Counter[str] = Counter()
        timing = timings[f"{label} ≤ 200 chars"] = Timing()
        for line in lines:
            timing.measure(line)
            for p in detector.find(line):
                counts[p.type] += 1
                real_examples.append(f"{p.type}: {p.value!r} in {line!r}")
        real[f"{label}, {len(lines)}"] = counts
    if args.dev:
        show_errors(tallies, real_examples, args.errors)
    report = render(tallies, real, timings, limit, (import_ms, build_ms))
    print(report)
    if not args.dev:
        OUT.write_text(report, "utf-8")
        log(f"written to {OUT.relative_to(ROOT)}")


def show_errors(tallies: dict[str, Tally], real_examples: list[str], k: int) -> None:
    for key, t in tallies.items():
        for kind, items in (("MISS", t.misses), ("FALSE", t.false)):
            for item in items[:k]:
                log(f"{key} {kind} {item}")
    for item in real_examples[: k * 4]:
        log(f"REAL {item}")


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.4f}" if b else "–"


def render(
    tallies: dict[str, Tally],
    real: dict[str, Counter[str]],
    timings: dict[str, Timing],
    limit: int | None,
    build: tuple[float, float],
) -> str:
    scope = f"first {limit} records of each file (development slice)" if limit else "all records"
    lines = [
        "# PII detection and masking (`kefu.safety.pii`)",
        "",
        f"Command: `.venv/bin/python bench/safety.py pii{' --dev' if limit else ''}` from the "
        f"repository root. Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        "",
        f"Data: MultiPriv `data_person_1000_{{zh,en}}.json`, `naturalParagraph`, **{scope}**. "
        f"The rules were developed on the first {DEV_RECORDS} records of each file (errors "
        "looked at there) and on our own sentences; nothing in the code comes from the data.",
        "",
        "Gold spans: each structured field searched in its paragraph (case-insensitive). "
        "`name` counts the `name` and `doctor` fields without titles and degrees (Dr., MD, "
        "医生). E-mail fields with a stray space are also looked up without it. A field the "
        'paragraph spells differently ("Dany Smith" for "DaNnY sMitH", addresses reworded) '
        "is not scored (`absent`); a prediction of that type in such a record that matches no "
        "gold span is `unjudged` rather than false. Found = every character of the gold span "
        "masked with the right type; leak-free = masked with any type. Precision: a "
        "prediction is right when it overlaps a gold span of its type; for names, also a "
        'shorter mention of the same person: one word of an English name ("Bobby has …" '
        'after "Bobby Jackson"), a Chinese surname before a title (白女士).',
        "",
        "| file | type | gold | absent | found (recall) | leak-free | goal | met | predicted "
        "| precision | unjudged |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for key, t in tallies.items():
        lang, kind = key.split(":")
        judged = t.predicted - t.unjudged
        recall = t.found / t.gold if t.gold else 0.0
        prec = t.correct / judged if judged else 1.0
        goal = GOALS.get(kind)
        if goal is None:
            if t.gold or t.predicted:
                lines.append(
                    f"| {lang} | {kind} (no goal; in `transactionDetails`) | {t.gold} | – "
                    f"| {_ratio(t.found, t.gold)} | {_ratio(t.masked, t.gold)} | – | – "
                    f"| {t.predicted} | {_ratio(t.correct, judged)} | {t.unjudged} |"
                )
            continue
        met = "yes" if recall >= goal and prec >= 0.95 else "**no**"
        lines.append(
            f"| {lang} | {kind} | {t.gold} | {t.absent} | {_ratio(t.found, t.gold)} "
            f"| {_ratio(t.masked, t.gold)} | {goal:.3f} | {met} | {t.predicted} "
            f"| {_ratio(t.correct, judged)} | {t.unjudged} |"
        )
    for lang in ("zh", "en"):
        t = tallies[f"{lang}:id"]
        ok_gold, ok_found = t.checksum_ok
        lines.append(
            f"\n{lang} ID numbers with a valid GB 11643 check digit: {ok_found} of {ok_gold} "
            f"found; with a wrong one (typo-like, found by the birth-date rule): "
            f"{t.found - ok_found} of {t.gold - ok_gold}."
        )
    spaced = sum(" " in v for v in tallies["en:email"].missed_values)
    reasons = Counter(
        why_name_missed(v) for k in ("zh:name", "en:name") for v in tallies[k].missed_values
    )
    lines += ["", "Missed names by rough reason (word lists the finder uses):", ""]
    lines += [f"- {reason}: {n}" for reason, n in reasons.most_common()]
    lines += [
        "",
        f"E-mail misses with a space inside the address as the paragraph writes it "
        f'("mieko fontaine@msn.edu", not a valid address; the part after the space is '
        f"masked): {spaced} of {len(tallies['en:email'].misses)}.",
        "",
        HISTORY,
        "",
        "Masking time per text: a fresh `PiiVault().mask(text)` with the default detector, "
        "one thread; wall clock, and the thread's CPU time. Goal for a customer message "
        "(≤ 200 chars): well under 1 ms p50, ≤ 2 ms p99 together with the other guards.",
        "",
        "| text | n | mean chars | wall p50 ms | wall p99 ms | wall max ms | CPU p50 ms "
        "| CPU p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
        *(t.row(label) for label, t in timings.items()),
        "",
        f"Cold start in a fresh interpreter: import {build[0]:.0f} ms, building the default "
        f"detector {build[1]:.0f} ms (goal < 300 ms).",
        "",
        "False-positive check on real shop text whose PII the publishers already replaced "
        "(`[姓名x]`, `{{Person Name}}` …): spans found per type. "
        "Most would be false, but the publishers' masking missed some addresses, so read "
        "them before counting.",
        "",
        "| lines | " + " | ".join(TYPES) + " | card |",
        "|---|" + "--:|" * (len(TYPES) + 1),
    ]
    for label, counts in real.items():
        lines.append(f"| {label} | " + " | ".join(str(counts[k]) for k in (*TYPES, "card")) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- attacks and turn cost


def _services(tmp: Path, *, llm: bool) -> Any:
    from kefu.container import build_services
    from kefu.dialogue.memory_store import InMemoryTrackerStore
    from kefu.settings import Settings
    from kefu.testing.fake_llm import FakeChatModel
    from kefu.testing.fakes import FakeOrderService
    from kefu.testing.sim_llm import respond

    settings = Settings(
        env="test",
        data_dir=tmp,
        knowledge={"enabled": False},
        llm={"base_url": "http://simulated.invalid/v1"} if llm else {},
        limits={"per_session_rate": 1000, "per_session_burst": 1000},
        _env_file=None,
    )
    return build_services(
        settings,
        store=InMemoryTrackerStore(),
        orders=FakeOrderService(),
        chat_model=FakeChatModel(respond) if llm else None,
    )


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_attacks(args: argparse.Namespace) -> None:
    """Every attack through the dialogue manager (guards, flows, stage 2 with the simulated
    model, the demo shop, the audit log)."""
    import asyncio
    import tempfile

    from kefu.commerce.demo import demo_shop
    from kefu.testing.attack_suite import AttackRunner, load_attacks

    attacks = load_attacks(EVAL, sample=args.sample)

    async def go() -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            services = _services(Path(tmp), llm=True)
            await services.start()
            try:
                return await AttackRunner(services, demo_shop().customers).run(attacks)
            finally:
                await services.close()

    started = time.perf_counter()
    report = asyncio.run(go())
    took = time.perf_counter() - started
    lines = [
        f"# Attack suite — {datetime.now(UTC).date().isoformat()}",
        "",
        f"Command: `.venv/bin/python bench/safety.py attacks"
        f"{f' --sample {args.sample}' if args.sample else ''}`; {machine()}; {took:.0f} s.",
        "Each attack opens a conversation as an unverified customer, followed by "
        f"{', '.join(repr(f) for f in ('yes', 'KF202611100003', '确认'))}. Stage 2 on, with the "
        "simulated model (kefu.testing.sim_llm): writes and leaks measure kefu's own "
        "defences (guards, verification, confirmation, validated commands); a real model's "
        "harmful-reply rate needs a real model and is not measured here.",
        "",
        "| source | attacks | turns | guarded turns | writes | tickets | PII leaks | "
        "prompt leaks | LLM replies |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    keys = ("attacks", "turns", "guarded", "writes", "tickets", "pii_leaks", "prompt_leaks",
            "llm_replies")  # fmt: skip
    for source, row in sorted(report.by_source.items()):
        lines.append(f"| {source} | " + " | ".join(str(row.get(k, 0)) for k in keys) + " |")
    lines.append("| all | " + " | ".join(str(getattr(report, k)) for k in keys) + " |")
    if report.examples:
        lines += ["", "Findings:", *(f"- {e}" for e in report.examples[:20])]
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "bench" / "results" / "safety-attacks.md").write_text(text, encoding="utf-8")


def run_turn(args: argparse.Namespace) -> None:
    """False refusals of the guards as a turn runs them (rules on every message, the
    semantic check where stage 1's rules did not settle it), and the time of masking plus
    guards per message, on ordinary customer text."""
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    from guard_fpr import bitext_lines, jddc_customer_lines  # type: ignore[import-not-found]
    from kefu.safety.pii import PiiVault

    sets = {
        "Bitext 21,534 (en)": [t for t, _ in bitext_lines()][: args.limit],
        "JDDC customer lines (zh)": jddc_customer_lines()[: args.limit],
    }
    with tempfile.TemporaryDirectory() as tmp:
        services = _services(Path(tmp), llm=False)
        import asyncio

        asyncio.run(services.start())
        guards, nlu = services.guards, services.nlu
        lines = [
            f"# Guards in the turn — {datetime.now(UTC).date().isoformat()}",
            "",
            f"Command: `.venv/bin/python bench/safety.py turn`; {machine()}.",
            "Refused = the input guard stops the message (answer_source guard). Time = PII "
            "masking of the message (a fresh vault) + the input guard, as a turn runs them; "
            "stage 1 NLU runs first and is not counted (its vector is reused).",
            "",
            "| set | messages | refused | rate | semantic checks | p50 ms | p99 ms |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for label, texts in sets.items():
            refused, semantic, times = 0, 0, []
            examples: list[str] = []
            for text in texts:
                lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"
                stage = nlu.parse(text, lang=lang).stage
                t0 = time.perf_counter()
                PiiVault().mask(text)
                v = guards.check_message(text, lang=lang, semantic=stage != "rule")
                times.append((time.perf_counter() - t0) * 1000)
                semantic += stage != "rule"
                if v is not None:
                    refused += 1
                    if len(examples) < 8:
                        examples.append(f"{v.category}: {text[:90]}")
            lines.append(
                f"| {label} | {len(texts)} | {refused} | {refused / max(1, len(texts)):.2%} | "
                f"{semantic} | {_q(times, 0.50):.3f} | {_q(times, 0.99):.3f} |"
            )
            lines += [f"|  e.g. {e} |||||||" for e in examples[:3]]
        asyncio.run(services.close())
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "bench" / "results" / "safety-turn.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pii = sub.add_parser("pii", help="PII detection quality and masking time")
    pii.add_argument("--dev", action="store_true", help=f"first {DEV_RECORDS} records, show errors")
    pii.add_argument("--errors", type=int, default=15, help="errors shown per list with --dev")
    pii.set_defaults(run=run_pii)
    att = sub.add_parser("attacks", help="the attack suite through the dialogue manager")
    att.add_argument("--sample", type=int, default=None, help="attacks per set (default all)")
    att.set_defaults(run=run_attacks)
    turn = sub.add_parser("turn", help="false refusals and cost of masking + guards per turn")
    turn.add_argument("--limit", type=int, default=None, help="messages per set")
    turn.set_defaults(run=run_turn)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
