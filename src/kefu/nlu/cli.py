"""`kefu nlu train | eval | predict`: the shop's own intent model from labelled examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kefu.nlu.base import OUT_OF_SCOPE, NluResult
from kefu.nlu.evaluation import EvalReport, evaluate
from kefu.nlu.examples import (
    Example,
    ExampleFormatError,
    builtin_out_of_scope,
    default_examples,
    label_counts,
    load_examples,
)
from kefu.nlu.factory import build_stage_one, default_embedder, model_path
from kefu.nlu.lang import detect_lang
from kefu.nlu.pipeline import StageOneNlu
from kefu.settings import Settings

app = typer.Typer(help="Intent model: train, evaluate, try it.", no_args_is_help=True)
console = Console()

TextCol = Annotated[str, typer.Option("--text-col", help="Column (or JSON key) with the text")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column (or JSON key) with the intent")]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model file (default: the server's model)")
]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh or en (default: detected)")]


def _settings(model: Path | None = None) -> Settings:
    settings = Settings()
    if model is not None:
        nlu = settings.nlu.model_copy(update={"model_path": model, "reload_interval_s": 0.0})
        settings = settings.model_copy(update={"nlu": nlu})
    return settings


def _read(file: Path, text_col: str, label_col: str) -> list[Example]:
    try:
        data = load_examples(file, text_col=text_col, label_col=label_col)
    except ExampleFormatError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if data.skipped:
        console.print(f"[yellow]skipped {data.skipped} rows without text or label[/]")
    return list(data.examples)


@app.command("train")
def train_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or YAML of labelled examples")],
    text_col: TextCol = "text",
    label_col: LabelCol = "intent",
    extend: Annotated[
        bool, typer.Option("--extend/--replace", help="Add kefu's default examples, or not")
    ] = False,
    builtin_oos: Annotated[
        bool,
        typer.Option(help="Add kefu's out-of-scope examples when the file has none"),
    ] = True,
    rules: Annotated[
        bool | None,
        typer.Option(
            "--rules/--no-rules",
            help="Apply kefu's keyword rules to intents of the same name (default: only with "
            "--extend, since a shop's own intents may draw other lines)",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the model")] = None,
    c: Annotated[float, typer.Option(help="Inverse regularisation strength")] = 10.0,
) -> None:
    """Train the intent model from FILE; the server picks it up within seconds."""
    settings = Settings()
    examples = _read(file, text_col, label_col)
    if extend:
        examples += default_examples()
    elif builtin_oos and OUT_OF_SCOPE not in label_counts(examples):
        examples += builtin_out_of_scope()
    counts = label_counts(examples)
    if len(counts) < 2:
        console.print("[red]need examples of at least two intents[/]")
        raise typer.Exit(2)
    from kefu.nlu.training import TrainConfig, train  # scikit-learn loads only when training

    target = output or model_path(settings)
    with console.status(f"training on {len(examples)} examples, {len(counts)} intents ..."):
        report = train(
            examples,
            embedder=default_embedder(settings),
            config=TrainConfig(c=c, use_rules=extend if rules is None else rules),
            source=str(file),
        )
        report.model.save(target)
    held = report.heldout
    console.print(
        f"[green]trained[/] {report.examples} examples, {report.intents} intents in "
        f"{report.seconds:.1f}s -> {target}"
    )
    if held:
        line = (
            f"held-out split ({int(held['examples'])} examples): accuracy "
            f"{held['accuracy']:.3f}, out-of-scope threshold {held['threshold']:.2f}"
        )
        if "oos_recall" in held:
            line += f", out-of-scope recall {held['oos_recall']:.3f}"
        console.print(line)


def _langs(texts: list[str], lang: str | None, default: str) -> list[str]:
    return [lang or detect_lang(t) or default for t in texts]


@app.command("eval")
def eval_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or YAML of labelled examples")],
    text_col: TextCol = "text",
    label_col: LabelCol = "intent",
    model: ModelOpt = None,
    lang: LangOpt = None,
    confused: Annotated[int, typer.Option(help="How many confused pairs to show")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Accuracy, macro-F1, per-intent precision/recall, confused pairs, out-of-scope recall."""
    settings = _settings(model)
    examples = _read(file, text_col, label_col)
    if not examples:
        console.print("[red]no examples[/]")
        raise typer.Exit(2)
    nlu = build_stage_one(settings)
    texts = [e.text for e in examples]
    with console.status(f"evaluating {len(texts)} examples ..."):
        results = _parse_all(nlu, texts, _langs(texts, lang, settings.default_lang))
    report = evaluate(
        [e.intent for e in examples], [r.intent for r in results], top_confused=confused
    )
    if as_json:
        console.print_json(json.dumps(_report_data(report)))
        return
    _print_report(report)


def _parse_all(nlu: StageOneNlu, texts: list[str], langs: list[str]) -> list[NluResult]:
    out: list[NluResult] = []
    for i in range(0, len(texts), 512):
        out += nlu.parse_many(texts[i : i + 512], langs=langs[i : i + 512])
    return out


def _report_data(r: EvalReport) -> dict[str, object]:
    return {
        "examples": r.examples,
        "accuracy": r.accuracy,
        "macro_f1": r.macro_f1,
        "in_scope_accuracy": r.in_scope_accuracy,
        "oos_recall": r.oos_recall,
        "oos_support": r.oos_support,
        "per_intent": [
            {
                "intent": s.intent,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "support": s.support,
            }
            for s in r.per_intent
        ],
        "confused": [{"gold": g, "predicted": p, "count": c} for g, p, c in r.confused],
    }


def _print_report(r: EvalReport) -> None:
    console.print(
        f"examples {r.examples}   accuracy [bold]{r.accuracy:.4f}[/]   "
        f"macro-F1 [bold]{r.macro_f1:.4f}[/]"
    )
    if r.oos_recall is not None:
        console.print(f"out-of-scope recall {r.oos_recall:.4f} ({r.oos_support} examples)")
    else:
        console.print("out-of-scope recall: n/a (no out_of_scope examples in the file)")
    table = Table("intent", "precision", "recall", "F1", "support")
    for s in r.per_intent:
        table.add_row(
            s.intent, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support)
        )
    console.print(table)
    if r.confused:
        pairs = Table("gold", "predicted", "count", title="most confused")
        for g, p, c in r.confused:
            pairs.add_row(g, p, str(c))
        console.print(pairs)


@app.command("predict")
def predict_cmd(
    text: Annotated[str, typer.Argument(help="A customer message")],
    model: ModelOpt = None,
    lang: LangOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Intent, confidence, stage, entities (and the stage-2 flag) of one message."""
    settings = _settings(model)
    nlu = build_stage_one(settings)
    lg = lang or detect_lang(text) or settings.default_lang
    r = nlu.parse(text, lang=lg)
    data = {
        "intent": r.intent,
        "confidence": round(r.confidence, 4),
        "stage": r.stage,
        "needs_llm": r.needs_llm,
        "reason": r.reason,
        "candidates": [[n, round(p, 4)] for n, p in r.candidates],
        "acts": sorted(r.acts),
        "entities": [e.to_data() for e in r.entities],
    }
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    console.print(f"intent [bold]{r.intent}[/]  confidence {r.confidence:.3f}  stage {r.stage}")
    if r.needs_llm:
        console.print(f"stage 2 wanted: {r.reason}")
    if r.candidates:
        console.print("candidates: " + ", ".join(f"{n} {p:.3f}" for n, p in r.candidates))
    if r.acts:
        console.print("acts: " + ", ".join(sorted(r.acts)))
    for e in r.entities:
        extra = f" {json.dumps(e.extra, ensure_ascii=False)}" if e.extra else ""
        console.print(f"entity {e.type} = {e.value!r} [{e.start}:{e.end}]{extra}")
