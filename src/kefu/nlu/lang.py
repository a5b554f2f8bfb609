"""Which language a customer writes in."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Words of letters only: ids such as KF202611250001 or SF123… say nothing about language.
_WORD = re.compile(r"(?<![A-Za-z0-9@._-])[A-Za-z]{2,}(?![A-Za-z0-9@_-])")
_SHORT = 4  # fewer Latin letters than this ("ok") do not switch a running conversation
_NAME_CHARS = 4  # a Chinese name is two to four characters
_DIGITS = re.compile(r"\d{5,}")  # a zip code, a phone number


def detect_lang(text: str, *, current: str | None = None) -> str | None:
    """'zh' for Chinese characters, 'en' for English words, else None (keep the current one).

    In a conversation already under way (`current` given), a very short Latin reply such as
    "ok" keeps the current language, and so does a Chinese name with a zip or phone number
    in an English conversation.
    """
    cjk = _CJK.findall(text)
    if cjk:
        # "刘洋 518057" in an English chat is a Chinese name with a zip or phone (identity
        # details), not a switch to Chinese.
        if current == "en" and len(cjk) <= _NAME_CHARS and _DIGITS.search(text):
            return None
        return "zh"
    words = _WORD.findall(text)
    if not words:
        return None
    if current is not None and sum(len(w) for w in words) < _SHORT:
        return None
    return "en"
