"""The `kefu` command: version, and a terminal conversation in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu import __version__
from kefu.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_chat_in_process_with_buttons(runner: CliRunner, tmp_path: Path) -> None:
    lines = "你好\n1\nKF202611180002\n/quit\n"
    result = runner.invoke(app, ["chat"], input=lines)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "您好" in out and "1. 查订单" in out
    assert "请问您要查询的订单号" in out  # button 1 started the order-status flow
    assert "已发货" in out and "KF202611180002" in out
    assert (tmp_path / "kefu.db").exists()  # the conversation was stored


def test_chat_in_process_runs_a_write_flow(runner: CliRunner, tmp_path: Path) -> None:
    """`kefu chat` on the demo shop: verify by name + zip, cancel a pending order with a
    reason, confirm; a new question then shows the order cancelled."""
    lines = "\n".join(
        ["我要取消订单", "张伟 200120", "KF202611200001", "拍错了", "是",
         "查一下订单 KF202611200001", "/quit", ""]
    )  # fmt: skip
    result = runner.invoke(app, ["chat"], input=lines)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "已验证" in out
    assert "请确认：取消订单 KF202611200001" in out
    assert "订单 KF202611200001 已取消" in out
    assert "当前状态：已取消" in out  # the status question reads the changed order
