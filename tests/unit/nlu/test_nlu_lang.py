"""Which language a message is in, and when a running conversation switches."""

from __future__ import annotations

import pytest

from kefu.nlu.lang import detect_lang


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("我要退货", None, "zh"),
        ("I want a refund", None, "en"),
        ("KF202611250001", "zh", None),  # an id says nothing
        ("ok", "zh", None),  # too short to switch
        ("ok", None, "en"),
        ("刘洋 518057", "en", None),  # a name with a zip: identity details, not Chinese
        ("张伟 13945671234", "en", None),
        ("刘洋 518057", None, "zh"),  # no conversation yet: Chinese
        ("好的", "en", "zh"),  # a Chinese word without details: the customer switched
        ("我想查一下订单 KF202611250001", "en", "zh"),
        ("欧阳娜娜娜 518057", "en", "zh"),  # five characters: more than a name
    ],
)
def test_detect_lang(text: str, current: str | None, expected: str | None) -> None:
    assert detect_lang(text, current=current) == expected
