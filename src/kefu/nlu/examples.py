"""Labelled intent examples: the shipped defaults and a shop's own files (CSV, JSONL, YAML)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kefu.nlu.base import OUT_OF_SCOPE

DEFAULT_LANGS = ("zh", "en")
MAX_TEXT_CHARS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    text: str
    intent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleFile:
    examples: tuple[Example, ...]
    skipped: int  # rows without a usable text or label


class ExampleFormatError(ValueError):
    """The file cannot be read as labelled examples (unknown format, missing columns)."""


def load_examples(path: Path, *, text_col: str = "text", label_col: str = "intent") -> ExampleFile:
    """Read a CSV, JSONL/JSON-lines or YAML file of labelled examples."""
    suffix = path.suffix.lower()
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExampleFormatError(f"cannot read {path}: {exc}") from exc
    if suffix in (".csv", ".tsv"):
        rows: Iterable[tuple[Any, Any]] = _csv_rows(raw, text_col, label_col, suffix == ".tsv")
    elif suffix in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(raw, text_col, label_col)
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(raw)
    else:
        raise ExampleFormatError(f"{path.name}: use .csv, .tsv, .jsonl or .yaml")
    return _clean(rows)


def _clean(rows: Iterable[tuple[Any, Any]]) -> ExampleFile:
    out: list[Example] = []
    skipped = 0
    for text, label in rows:
        t = str(text).strip() if text is not None else ""
        lab = str(label).strip() if label is not None else ""
        if not t or not lab or len(t) > MAX_TEXT_CHARS:
            skipped += 1
            continue
        out.append(Example(text=t, intent=lab))
    return ExampleFile(examples=tuple(out), skipped=skipped)


def _csv_rows(raw: str, text_col: str, label_col: str, tab: bool) -> Iterator[tuple[Any, Any]]:
    reader = csv.DictReader(raw.splitlines(), delimiter="\t" if tab else ",")
    fields = reader.fieldnames or []
    for col in (text_col, label_col):
        if col not in fields:
            raise ExampleFormatError(f"no column {col!r}; the columns are {fields}")
    for row in reader:
        yield row.get(text_col), row.get(label_col)


def _jsonl_rows(raw: str, text_col: str, label_col: str) -> Iterator[tuple[Any, Any]]:
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExampleFormatError(f"line {n}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ExampleFormatError(f"line {n}: expected an object")
        yield obj.get(text_col), obj.get(label_col)


def _yaml_rows(raw: str) -> Iterator[tuple[Any, Any]]:
    """`{intents: {name: [text, ...]}}` (the shipped format) or `{name: [text, ...]}`."""
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise ExampleFormatError(f"not YAML: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("intents"), dict):
        data = data["intents"]
    if not isinstance(data, dict):
        raise ExampleFormatError("expected a mapping of intent names to lists of texts")
    for intent, texts in data.items():
        if not isinstance(texts, list):
            raise ExampleFormatError(f"intent {intent!r}: expected a list of texts")
        for t in texts:
            yield t, intent


def default_examples(langs: Sequence[str] = DEFAULT_LANGS) -> tuple[Example, ...]:
    """The examples kefu ships for the 23 default intents (ours, written for kefu)."""
    return tuple(e for lang in langs for e in _shipped(lang))


@lru_cache(maxsize=8)
def _shipped(lang: str) -> tuple[Example, ...]:
    # Package data, parsed once per process (the tuple is immutable).
    text = resources.files("kefu.nlu").joinpath(f"data/examples/{lang}.yaml")
    return _clean(_yaml_rows(text.read_text(encoding="utf-8"))).examples


def builtin_out_of_scope() -> tuple[Example, ...]:
    """The shipped out-of-scope examples (weather, jokes, homework ...), for shop models."""
    return tuple(e for e in default_examples() if e.intent == OUT_OF_SCOPE)


def examples_digest(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.intent}\t{e.text}\n".encode())
    return h.hexdigest()


def label_counts(examples: Iterable[Example]) -> Counter[str]:
    return Counter(e.intent for e in examples)
