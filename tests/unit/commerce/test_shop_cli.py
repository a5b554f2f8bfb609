"""`kefu shop import / export / demo` through typer's CliRunner on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.commerce.cli import app

RETAIL_DB = Path(__file__).parents[3] / "../shared/evaldata/tau2-bench/retail/db.json"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"


def test_demo_then_export_then_import_again(tmp_path: Path, db: str) -> None:
    done = runner.invoke(app, ["demo", "--db", db])
    assert done.exit_code == 0, done.output
    assert "loaded" in done.output
    exported = runner.invoke(app, ["export", "--db", db])
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.stdout)
    assert doc["format"] == "kefu.shop" and len(doc["orders"]) == 14
    path = tmp_path / "shop.json"
    path.write_text(exported.stdout, encoding="utf-8")
    again = runner.invoke(app, ["import", str(path), "--tenant", "copy", "--db", db])
    assert again.exit_code == 0, again.output
    assert "14 orders" in again.output
    copy = runner.invoke(app, ["export", "--tenant", "copy", "--db", db])
    assert json.loads(copy.stdout) == doc
    skipped = runner.invoke(app, ["demo", "--if-empty", "--db", db])
    assert skipped.exit_code == 0 and "already has orders" in skipped.output


def test_demo_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    done = runner.invoke(app, ["demo", "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text(encoding="utf-8"))["customers"][0]["user_id"] == "u1001"


@pytest.mark.skipif(not RETAIL_DB.exists(), reason="τ²-bench retail db.json not present")
def test_tau2_import_export_gives_the_same_file(tmp_path: Path, db: str) -> None:
    done = runner.invoke(app, ["import", str(RETAIL_DB), "--format", "tau2", "--db", db])
    assert done.exit_code == 0, done.output
    assert "500 customers, 50 products, 1000 orders" in done.output
    out = tmp_path / "db.json"
    exported = runner.invoke(app, ["export", "--format", "tau2", "--output", str(out), "--db", db])
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes() == RETAIL_DB.read_bytes()


def test_a_bad_file_is_refused_and_changes_nothing(tmp_path: Path, db: str) -> None:
    runner.invoke(app, ["demo", "--db", db])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"orders": [{"order_id": "x"}]}), encoding="utf-8")
    done = runner.invoke(app, ["import", str(bad), "--db", db])
    assert done.exit_code == 2 and "not a valid kefu shop file" in " ".join(done.output.split())
    wrong = runner.invoke(app, ["import", str(bad), "--format", "tau2", "--db", db])
    assert wrong.exit_code == 2
    still = runner.invoke(app, ["export", "--db", db])
    assert len(json.loads(still.stdout)["orders"]) == 14
