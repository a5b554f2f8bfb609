"""Reading FAQ and document files, row by row, with line numbers for every rejected row.

FAQ: JSONL, CSV (similar questions '|'-separated) or YAML with `id, question, similar,
answer, category` (and optional `lang`). Documents: Markdown or plain text (one document per
file, id from the file name), or JSONL `{id, title, content}`. A JSONL or YAML file may mix
FAQ rows and document rows: a row with `question` is an FAQ entry, one with `content` a
document. Nothing here writes anything."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kefu.knowledge.model import DocEntry, Entry, FaqEntry
from kefu.knowledge.settings import ImportSettings
from kefu.nlu.lang import detect_lang

KindOption = Literal["auto", "faq", "doc"]
FAQ_SUFFIXES = frozenset({".jsonl", ".ndjson", ".csv", ".tsv", ".yaml", ".yml", ".json"})
DOC_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text"})
_ID = r"^[^\s\"'\\\x00-\x1f\x7f]{1,128}$"  # no spaces, quotes, backslashes
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportAborted(Exception):
    """The whole file is refused (too big, binary, unreadable, too many bad rows)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    line: int
    reason: str
    id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRow:
    line: int
    entry: Entry


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseResult:
    rows: tuple[ParsedRow, ...]
    rejected: tuple[Rejected, ...]


def _clean(v: str) -> str:
    if _CONTROL.search(v):
        raise ValueError("contains control characters (binary data?)")
    return v.strip()


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(pattern=_ID)
    category: str = Field(default="", max_length=64)
    lang: Literal["zh", "en"] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class FaqRow(_Row):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    similar: list[str] = Field(default_factory=list)

    @field_validator("similar", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [s for s in (p.strip() for p in v.split("|")) if s]
        return v

    @field_validator("question", "answer", "category")
    @classmethod
    def _text(cls, v: str) -> str:
        return _clean(v)

    @field_validator("similar")
    @classmethod
    def _texts(cls, v: list[str]) -> list[str]:
        return [c for c in (_clean(s) for s in v) if c]


class DocRow(_Row):
    title: str = ""
    content: str = Field(min_length=1)

    @field_validator("title", "content", "category")
    @classmethod
    def _text(cls, v: str) -> str:
        return _clean(v)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "row"
        msg = "missing" if err["type"] == "missing" else err["msg"]
        if err["type"] == "string_too_short":
            msg = "empty"
        parts.append(f"{field}: {msg}")
    return "; ".join(parts)


def _lang_of(row: _Row, text: str, default: str | None) -> str:
    return row.lang or default or detect_lang(text) or "zh"


def row_to_entry(
    data: Any, *, kind: KindOption, lang: str | None, limits: ImportSettings
) -> Entry | str:
    """The entry of one row, or why the row is rejected."""
    if not isinstance(data, dict):
        return "a row must be an object with named fields"
    row_kind = kind
    if kind == "auto":
        row_kind = "faq" if "question" in data or "answer" in data else "doc"
    try:
        if row_kind == "faq":
            faq = FaqRow.model_validate(data)
            too_long = max(len(faq.question), len(faq.answer), *map(len, faq.similar))
            if too_long > limits.max_field_chars:
                return f"a field is longer than {limits.max_field_chars} characters"
            return FaqEntry(
                id=faq.id,
                lang=_lang_of(faq, faq.question, lang),
                question=faq.question,
                similar=tuple(dict.fromkeys(s for s in faq.similar if s != faq.question)),
                answer=faq.answer,
                category=faq.category,
            )
        doc = DocRow.model_validate(data)
    except ValidationError as exc:
        return _reason(exc)
    if len(doc.content) > limits.max_doc_chars:
        return f"content is longer than {limits.max_doc_chars} characters"
    title = doc.title or doc.id
    return DocEntry(
        id=doc.id,
        lang=_lang_of(doc, f"{title}\n{doc.content[:2000]}", lang),
        title=title,
        content=doc.content,
        category=doc.category,
    )


def _decode_lines(data: bytes, encoding: str) -> tuple[list[str], list[Rejected]]:
    lines: list[str] = []
    bad: list[Rejected] = []
    for no, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode(encoding).rstrip("\r"))
        except UnicodeDecodeError:
            lines.append("")
            bad.append(Rejected(line=no, reason=f"not valid {encoding} text (wrong encoding?)"))
    return lines, bad


def _check_bytes(data: bytes, limits: ImportSettings) -> bytes:
    if len(data) > limits.max_file_mb * 1024 * 1024:
        raise ImportAborted(f"the file is larger than {limits.max_file_mb:g} MB")
    if b"\x00" in data[:8192]:
        raise ImportAborted("the file looks binary (NUL bytes); expected UTF-8 text")
    return data.removeprefix(b"\xef\xbb\xbf")


def _jsonl_rows(lines: list[str]) -> Iterator[tuple[int, Any]]:
    for no, line in enumerate(lines, start=1):
        if line.strip():
            try:
                yield no, json.loads(line)
            except json.JSONDecodeError as exc:
                yield no, ValueError(f"not valid JSON ({exc.msg})")


def _csv_rows(lines: list[str], delimiter: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    if reader.fieldnames is None:
        return
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    start = reader.line_num + 1
    try:
        for row in reader:
            if None in row:
                yield start, ValueError("more fields than the header has")
            elif any(v for v in row.values()):
                yield start, {k: v for k, v in row.items() if v not in (None, "")}
            start = reader.line_num + 1
    except csv.Error as exc:
        yield start, ValueError(f"not valid CSV ({exc})")


def _yaml_rows(text: str) -> Iterator[tuple[int, Any]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ImportAborted(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if isinstance(node, yaml.MappingNode):  # {faq: [...]} or {entries: [...]}
        lists = [v for _, v in node.value if isinstance(v, yaml.SequenceNode)]
        node = lists[0] if len(lists) == 1 else None
    if not isinstance(node, yaml.SequenceNode):
        raise ImportAborted("a YAML file must be a list of entries")
    loader_cls = yaml.SafeLoader
    for item in node.value:
        loader = loader_cls("")
        try:
            yield item.start_mark.line + 1, loader.construct_document(item)
        except yaml.YAMLError as exc:
            yield item.start_mark.line + 1, ValueError(f"not valid YAML ({exc})")
        finally:
            loader.dispose()


def _json_rows(text: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportAborted(f"not valid JSON at line {exc.lineno}: {exc.msg}") from exc
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list):
        raise ImportAborted("a JSON file must be a list of entries")
    yield from enumerate(data, start=1)


def _document(path_name: str, text: str, suffix: str) -> dict[str, str]:
    stem = Path(path_name).stem
    doc_id = re.sub(r"[^\w.-]+", "-", stem).strip("-")[:128] or "document"
    title = stem
    if suffix in (".md", ".markdown"):
        m = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        if m:
            title = m.group(1)
    return {"id": doc_id, "title": title, "content": text}


def parse_bytes(
    data: bytes,
    *,
    name: str,
    kind: KindOption = "auto",
    lang: str | None = None,
    encoding: str = "utf-8",
    limits: ImportSettings | None = None,
) -> ParseResult:
    """Parse a file's bytes; `name` gives the format by its suffix."""
    limits = limits or ImportSettings()
    suffix = Path(name).suffix.lower()
    if suffix not in FAQ_SUFFIXES | DOC_SUFFIXES:
        known = ".jsonl .csv .tsv .yaml .json .md .txt"
        raise ImportAborted(f"unknown file type {suffix or name!r} (use {known})")
    lines, bad = _decode_lines(_check_bytes(data, limits), encoding)
    whole_file = suffix in DOC_SUFFIXES or suffix in (".yaml", ".yml", ".json")
    if whole_file and bad:
        where = ", ".join(str(b.line) for b in bad[:10])
        raise ImportAborted(f"not valid {encoding} text at line(s) {where} (wrong encoding?)")
    text = "\n".join(lines)
    if suffix in DOC_SUFFIXES:
        rows: Iterator[tuple[int, Any]] = iter([(1, _document(name, text, suffix))])
        kind = "doc"
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(text)
    elif suffix == ".json":
        rows = _json_rows(text)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(lines, "\t" if suffix == ".tsv" else ",")
    else:
        rows = _jsonl_rows(lines)
    return _collect(rows, bad, kind=kind, lang=lang, limits=limits)


def _collect(
    rows: Iterator[tuple[int, Any]],
    bad: list[Rejected],
    *,
    kind: KindOption,
    lang: str | None,
    limits: ImportSettings,
) -> ParseResult:
    parsed: list[ParsedRow] = []
    rejected = list(bad)
    first_line: dict[str, int] = {}
    for no, data in rows:
        if len(parsed) + len(rejected) >= limits.max_rows:
            raise ImportAborted(f"the file has more than {limits.max_rows} rows")
        if isinstance(data, ValueError):
            rejected.append(Rejected(line=no, reason=str(data)))
            continue
        got = row_to_entry(data, kind=kind, lang=lang, limits=limits)
        row_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        if isinstance(got, str):
            rejected.append(Rejected(line=no, reason=got, id=row_id))
        elif got.id in first_line:
            reason = f"duplicate id {got.id!r} (first on line {first_line[got.id]})"
            rejected.append(Rejected(line=no, reason=reason, id=got.id))
        else:
            first_line[got.id] = no
            parsed.append(ParsedRow(line=no, entry=got))
    total = len(parsed) + len(rejected)
    if total and len(rejected) / total > limits.max_rejected_fraction:
        raise ImportAborted(
            f"{len(rejected)} of {total} rows are invalid (first: line {rejected[0].line}: "
            f"{rejected[0].reason}); nothing was imported"
        )
    rejected.sort(key=lambda r: r.line)
    return ParseResult(rows=tuple(parsed), rejected=tuple(rejected))


def parse_file(
    path: Path,
    *,
    kind: KindOption = "auto",
    lang: str | None = None,
    encoding: str = "utf-8",
    limits: ImportSettings | None = None,
) -> ParseResult:
    limits = limits or ImportSettings()
    size = path.stat().st_size
    if size > limits.max_file_mb * 1024 * 1024:
        raise ImportAborted(f"the file is larger than {limits.max_file_mb:g} MB")
    return parse_bytes(
        path.read_bytes(), name=path.name, kind=kind, lang=lang, encoding=encoding, limits=limits
    )
