"""`kefu kb ...` from a fresh data folder: import with a summary and rejected lines,
re-import, search with the three scores, list, show, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.knowledge.base import AsyncEmbedder
from kefu.knowledge.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: AsyncEmbedder) -> CliRunner:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


FAQ = (
    "id,question,similar,answer,category\n"
    "p1,KX-720 空气炸锅保修多久,KX-720保修|空气炸锅质保几年,KX-720 保修两年。,warranty\n"
    "p2,退货运费谁出,退货邮费谁付,质量问题由我们承担运费。,returns\n"
    "p2,重复的问题,,答案,x\n"
    "p3,没有答案的问题,,,\n"
)


def test_import_search_list_delete(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "faq.csv").write_text(FAQ, "utf-8")
    result = runner.invoke(app, ["import", "faq.csv"])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 updated, 0 unchanged, 0 deleted, 2 rejected" in result.output
    assert "duplicate id 'p2' (first on line 3)" in result.output
    assert "answer: missing" in result.output
    assert (tmp_path / "data" / "knowledge.db").exists()

    again = runner.invoke(app, ["import", "faq.csv"])
    assert "0 added, 0 updated, 2 unchanged" in again.output

    found = runner.invoke(app, ["search", "KX-720 坏了能修吗"])
    assert found.exit_code == 0, found.output
    lines = [line for line in found.output.splitlines() if "p1" in line]
    assert lines and lines[0].split("│")[1].strip() == "1"  # ranked first
    assert "dense" in found.output and "BM25" in found.output and "fused" in found.output
    assert "decision:" in found.output

    listed = runner.invoke(app, ["list"])
    assert "2 entries" in listed.output and "退货运费谁出" in listed.output
    shown = runner.invoke(app, ["show", "p1"])
    assert "KX-720 保修两年。" in shown.output and "~ KX-720保修" in shown.output

    gone = runner.invoke(app, ["delete", "p1", "nope"])
    assert "deleted 1; not found: nope" in gone.output
    assert "1 entries" in runner.invoke(app, ["list"]).output


def test_a_refused_file_imports_nothing(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "junk.jsonl").write_bytes(b"\x00\x01\x02\x03" * 100)
    result = runner.invoke(app, ["import", "junk.jsonl"])
    assert result.exit_code == 1
    assert "import refused" in result.output and "Nothing was imported" in result.output
    (tmp_path / "faq.csv").write_text(FAQ, "utf-8")
    strict = runner.invoke(app, ["import", "faq.csv", "--strict"])
    assert strict.exit_code == 1 and "nothing was imported" in strict.output
    assert "0 entries" in runner.invoke(app, ["list"]).output


def test_documents_and_dry_run(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "policy.md").write_text(
        "# 安装说明\n\n## 上门安装\n空调免费上门安装，师傅 48 小时内电话预约。\n", "utf-8"
    )
    dry = runner.invoke(app, ["import", "policy.md", "--dry-run"])
    assert "dry run: 1 added" in dry.output
    assert "0 entries" in runner.invoke(app, ["list"]).output
    assert "1 added" in runner.invoke(app, ["import", "policy.md"]).output
    found = runner.invoke(app, ["search", "空调安装要预约吗"])
    assert "policy" in found.output and "安装说明" in found.output
