"""`kefu nlu train | eval | predict` on small files, as a shop would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.domain.types import JsonValue
from kefu.nlu.base import Embedder
from kefu.nlu.cli import app

ROWS = {
    "track_order": [
        "where is my order",
        "track my order",
        "order tracking please",
        "has my order shipped",
        "where's my package",
        "track the order",
        "i want to track my purchase",
        "status of my delivery",
    ],
    "gift_wrap": [
        "can you gift wrap it",
        "add gift wrapping",
        "i want it wrapped as a gift",
        "gift wrap please",
        "do you offer gift wrapping",
        "wrap it for a present",
        "is gift packaging available",
        "please wrap my order",
    ],
}


@pytest.fixture
def env(tmp_path: Path, embedder: Embedder) -> dict[str, str]:
    # `embedder` warms the shared encoder the CLI uses.
    return {"KEFU_DATA_DIR": str(tmp_path), "KEFU_ENV": "test"}


def write_csv(path: Path) -> Path:
    lines = ["instruction,intent"] + [f'"{t}",{k}' for k, ts in ROWS.items() for t in ts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_train_eval_predict(tmp_path: Path, env: dict[str, str]) -> None:
    runner = CliRunner()
    data = write_csv(tmp_path / "shop.csv")
    r = runner.invoke(
        app, ["train", str(data), "--text-col", "instruction", "--label-col", "intent"], env=env
    )
    assert r.exit_code == 0, r.output
    assert "trained" in r.output
    assert (tmp_path / "nlu" / "model.npz").exists()  # where the server looks for it

    r = runner.invoke(
        app, ["eval", str(data), "--text-col", "instruction", "--label-col", "intent"], env=env
    )
    assert r.exit_code == 0, r.output
    for word in ("accuracy", "macro-F1", "precision", "recall", "out-of-scope recall"):
        assert word in r.output

    r = runner.invoke(app, ["predict", "could you wrap this as a present", "--json"], env=env)
    assert r.exit_code == 0, r.output
    out: dict[str, JsonValue] = json.loads(r.output)
    assert out["intent"] == "gift_wrap"
    assert out["stage"] == "classifier"
    assert isinstance(out["confidence"], float)


def test_eval_reports_out_of_scope_recall_and_confusions(
    tmp_path: Path, env: dict[str, str]
) -> None:
    runner = CliRunner()
    data = tmp_path / "shop.jsonl"
    rows = [{"q": t, "label": k} for k, ts in ROWS.items() for t in ts]
    data.write_text("\n".join(json.dumps(x) for x in rows), encoding="utf-8")
    assert (
        runner.invoke(
            app, ["train", str(data), "--text-col", "q", "--label-col", "label"], env=env
        ).exit_code
        == 0
    )
    test = tmp_path / "test.jsonl"
    test.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"q": "tell me a joke", "label": "out_of_scope"},
                {"q": "what's the weather today", "label": "out_of_scope"},
                {"q": "track my order please", "label": "track_order"},
            ]
        ),
        encoding="utf-8",
    )
    r = runner.invoke(
        app, ["eval", str(test), "--text-col", "q", "--label-col", "label", "--json"], env=env
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["examples"] == 3
    assert report["oos_support"] == 2
    assert report["oos_recall"] == 1.0
    assert {p["intent"] for p in report["per_intent"]} == {"out_of_scope", "track_order"}


def test_predict_shows_entities_with_the_default_model(env: dict[str, str]) -> None:
    r = CliRunner().invoke(app, ["predict", "订单KF202611180002的快递到哪了"], env=env)
    assert r.exit_code == 0, r.output
    assert "logistics_tracking" in r.output
    assert "order_id" in r.output
    assert "[2:16]" in r.output


def test_bad_files_are_reported_not_raised(tmp_path: Path, env: dict[str, str]) -> None:
    runner = CliRunner()
    data = write_csv(tmp_path / "shop.csv")
    r = runner.invoke(app, ["train", str(data), "--text-col", "nope"], env=env)
    assert r.exit_code == 2
    assert "no column 'nope'" in r.output
    odd = tmp_path / "shop.xlsx"
    odd.write_text("x")
    assert runner.invoke(app, ["train", str(odd)], env=env).exit_code == 2
