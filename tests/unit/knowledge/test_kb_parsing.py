"""Bad input is rejected row by row with line numbers; a refused file imports nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu.knowledge.model import DocEntry, FaqEntry
from kefu.knowledge.parsing import ImportAborted, parse_bytes, parse_file
from kefu.knowledge.settings import ImportSettings

LENIENT = ImportSettings(max_rejected_fraction=1.0)


def reasons(data: bytes, name: str, **kw: object) -> dict[int, str]:
    result = parse_bytes(data, name=name, limits=LENIENT, **kw)  # type: ignore[arg-type]
    return {r.line: r.reason for r in result.rejected}


def test_csv_rows_with_similar_questions_and_bad_rows() -> None:
    data = (
        "id,question,similar,answer,category\n"
        "f1,退货运费谁出,退货邮费|退回运费,质量问题我们出,returns\n"
        "f2,发票怎么开,,,invoices\n"
        "f1,重复的问题,,答案,x\n"
        'f3,"两行的\n问题",,答案3,\n'
        ",没有 id,,答案,\n"
    ).encode()
    result = parse_bytes(data, name="faq.csv", limits=LENIENT)
    good = {r.entry.id: r for r in result.rows}
    assert set(good) == {"f1", "f3"}
    f1 = good["f1"].entry
    assert isinstance(f1, FaqEntry) and f1.similar == ("退货邮费", "退回运费")
    assert f1.lang == "zh" and f1.category == "returns" and good["f1"].line == 2
    rejected = {r.line: r for r in result.rejected}
    assert rejected[3].reason == "answer: missing" and rejected[3].id == "f2"
    assert "duplicate id 'f1' (first on line 2)" in rejected[4].reason
    assert rejected[7].reason == "id: missing"


def test_wrong_encoding_is_reported_on_its_line() -> None:
    data = "id,question,answer\ng1,好,ok\n".encode() + "g2,测试,ok\n".encode("gbk")
    assert reasons(data, "faq.csv") == {3: "not valid utf-8 text (wrong encoding?)"}
    gbk = parse_bytes(
        data.replace(b"\xe5\xa5\xbd", "好".encode("gbk")),
        name="faq.csv",
        encoding="gbk",
        limits=LENIENT,
    )
    assert [r.entry.id for r in gbk.rows] == ["g1", "g2"]


def test_jsonl_mixes_faq_and_documents_and_reports_broken_lines() -> None:
    lines = [
        json.dumps({"id": "d1", "title": "Returns", "content": "You can return within 7 days."}),
        "{not json",
        json.dumps({"id": "q1", "question": "Can I pay later?", "answer": "No.", "similar": []}),
        "[1, 2]",
        json.dumps({"id": "q2", "question": "ok", "answer": "bin\x00ary"}),
    ]
    result = parse_bytes("\n".join(lines).encode(), name="kb.jsonl", limits=LENIENT)
    kinds = {r.entry.id: type(r.entry) for r in result.rows}
    assert kinds == {"d1": DocEntry, "q1": FaqEntry}
    assert result.rows[0].entry.lang == "en"
    bad = {r.line: r.reason for r in result.rejected}
    assert bad[2].startswith("not valid JSON")
    assert bad[4] == "a row must be an object with named fields"
    assert "control characters" in bad[5]


def test_yaml_rows_keep_their_line_numbers() -> None:
    data = (
        "- id: y1\n  question: 你好吗\n  answer: 很好\n"
        "- id: y2\n  question: 没有答案\n"
        '- {id: y3, question: "ok", answer: "fine", similar: "a|b"}\n'
    ).encode()
    result = parse_bytes(data, name="faq.yaml", limits=LENIENT)
    assert [(r.line, r.entry.id) for r in result.rows] == [(1, "y1"), (6, "y3")]
    assert [(r.line, r.reason) for r in result.rejected] == [(4, "answer: missing")]


def test_a_markdown_file_is_one_document_titled_by_its_heading(tmp_path: Path) -> None:
    path = tmp_path / "售后 政策.md"
    path.write_text("# 售后服务条款\n\n## 保修\n一年保修。\n", "utf-8")
    (row,) = parse_file(path).rows
    assert isinstance(row.entry, DocEntry)
    assert (row.entry.id, row.entry.title, row.entry.lang) == ("售后-政策", "售后服务条款", "zh")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"\x00\x01\x02binary junk" * 10, "faq.jsonl", "looks binary"),
        (b"id: [unclosed", "faq.yaml", "not valid YAML"),
        (b"a: 1\n", "faq.yaml", "must be a list"),
        (b"hello", "faq.pdf", "unknown file type"),
        ("\u00ff".encode("latin-1") + b"\n# doc", "doc.md", "not valid utf-8"),
    ],
)
def test_whole_files_are_refused_with_a_reason(data: bytes, name: str, message: str) -> None:
    with pytest.raises(ImportAborted, match=message):
        parse_bytes(data, name=name)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB (sparse file)
    with pytest.raises(ImportAborted, match="larger than 20 MB"):
        parse_file(big)


def test_a_file_of_mostly_bad_rows_imports_nothing() -> None:
    data = b"id,question,answer\na,,\nb,,\nc,q,ok\n"
    with pytest.raises(ImportAborted, match=r"2 of 3 rows are invalid.*nothing was imported"):
        parse_bytes(data, name="faq.csv")


def test_ids_that_could_break_a_filter_are_rejected() -> None:
    data = b'id,question,answer\n"a""b",q,a\nok-1,q,a\n'
    assert list(reasons(data, "faq.csv")) == [2]
