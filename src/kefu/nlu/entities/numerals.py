"""Chinese and English number words to integers ("两" -> 2, "十二" -> 12, "three" -> 3)."""

from __future__ import annotations

ZH_DIGITS: dict[str, int] = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "仨": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_UNITS: dict[str, int] = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
ZH_NUMERAL_CHARS = "".join(ZH_DIGITS) + "".join(ZH_UNITS)

EN_NUMBERS: dict[str, int] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a pair of": 2,
}


def parse_zh_int(text: str) -> int | None:
    """'三' 3, '十二' 12, '二十' 20, '一百零五' 105, '3' 3; None when it is not a number."""
    if not text:
        return None
    if text.isdigit():
        return int(text) if text.isascii() else None
    total, section, digit = 0, 0, -1
    for ch in text:
        if ch in ZH_DIGITS:
            digit = ZH_DIGITS[ch]
        elif ch in ZH_UNITS:
            unit = ZH_UNITS[ch]
            if unit == 10_000:
                section = (section + max(digit, 0)) * unit
                total += section
                section = 0
            else:
                section += (digit if digit >= 0 else 1) * unit
            digit = -1
        else:
            return None
    return total + section + max(digit, 0)


def parse_number(text: str) -> int | None:
    """A number written in digits, Chinese or English words."""
    t = text.strip().lower()
    if t in EN_NUMBERS:
        return EN_NUMBERS[t]
    return parse_zh_int(t)
