"""Which language a customer writes in."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Words of letters only: ids such as KF202611250001 or SF123… say nothing about language.
_WORD = re.compile(r"(?<![A-Za-z0-9@._-])[A-Za-z]{2,}(?![A-Za-z0-9@_-])")
_SHORT = 4  # fewer Latin letters than this ("ok") do not switch a running conversation


def detect_lang(text: str, *, current: str | None = None) -> str | None:
    """'zh' for Chinese characters, 'en' for English words, else None (keep the current one).

    In a conversation already under way (`current` given), a very short Latin reply such as
    "ok" keeps the current language.
    """
    if _CJK.search(text):
        return "zh"
    words = _WORD.findall(text)
    if not words:
        return None
    if current is not None and sum(len(w) for w in words) < _SHORT:
        return None
    return "en"
