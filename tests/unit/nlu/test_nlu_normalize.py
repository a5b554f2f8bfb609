"""Normalisation the rules and the classifier rely on."""

from __future__ import annotations

from kefu.nlu.normalize import fold_width, normalize


def test_full_width_folds_to_half_width() -> None:
    assert normalize("ＫＦ２０２６，ＯＫ！") == "kf2026,ok!"


def test_traditional_becomes_simplified() -> None:
    assert normalize("我買的裙子尺碼不對，想換貨") == "我买的裙子尺码不对,想换货"


def test_emoji_and_repeated_punctuation() -> None:
    assert normalize("钱咋还没退回来😡😡！！！？？？") == "钱咋还没退回来!?"
    assert normalize("啊啊啊啊啊啊") == "啊啊"
    assert normalize("soooo slow") == "soo slow"


def test_digits_are_kept() -> None:
    assert normalize("退了1000元") == "退了1000元"


def test_control_characters_and_spaces() -> None:
    assert normalize("\x00退 货\u200b\t ") == "退货"
    assert normalize("   ") == ""


def test_fold_width_keeps_positions() -> None:
    text = "订单ＫＦ２０２６\u3000好"
    folded = fold_width(text)
    assert len(folded) == len(text)
    assert folded == "订单KF2026 好"
