"""Dates and relative dates ("昨天", "上周五", "3天前", "last Friday", "2026-11-25").

Values are ISO dates (`2026-11-25`), or months (`2026-11`, `extra.granularity == "month"`);
relative expressions are resolved against `today`, which the caller injects (a clock).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from kefu.nlu.base import Entity
from kefu.nlu.entities.numerals import ZH_NUMERAL_CHARS, parse_number

_ZH_DAYS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    "后天": 2,
    "大后天": 3,
}
_EN_DAYS = {
    "the day before yesterday": -2,
    "yesterday": -1,
    "today": 0,
    "tomorrow": 1,
    "the day after tomorrow": 2,
}
_ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_EN_WEEKDAY = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_EN_MONTH = {
    m: i + 1
    for i, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        )
    )
    for m in names.split()
}
_NUM = rf"(?:\d{{1,3}}|[{ZH_NUMERAL_CHARS}]{{1,4}})"
_EN_NUM = r"(?:\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|a)"

_ZH_DAY_RE = re.compile("|".join(sorted(_ZH_DAYS, key=len, reverse=True)))
_EN_DAY_RE = re.compile(
    r"(?<![a-z])(?:" + "|".join(sorted(_EN_DAYS, key=len, reverse=True)) + r")(?![a-z])",
    re.IGNORECASE,
)
_ZH_WEEK_RE = re.compile(
    r"(上上|上|这|本|下下|下)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天末1-7])"
)
_EN_FULL_DAYS = "|".join(k for k in _EN_WEEKDAY if k.endswith("day"))
_EN_WEEK_RE = re.compile(
    rf"(?<![a-z])(?:(last|this|next|on)\s+)?({_EN_FULL_DAYS})(?![a-z])"
    rf"|(?<![a-z])(last|this|next|on)\s+({'|'.join(_EN_WEEKDAY)})\.?(?![a-z])",
    re.IGNORECASE,
)
_ZH_AGO_RE = re.compile(rf"({_NUM})\s?(?:个)?(天|日|周|星期|礼拜)(前|之前|以前|后|之后|以后)")
_EN_AGO_RE = re.compile(
    rf"(?<![a-z])(?:({_EN_NUM})\s+(days?|weeks?)\s+ago|in\s+({_EN_NUM})\s+(days?|weeks?))"
    r"(?![a-z])",
    re.IGNORECASE,
)
_ZH_MONTH_REL_RE = re.compile(r"(上上|上|这|本|下)(?:个)?月(?![0-9一二三四五六七八九十]|份)")
_EN_MONTH_REL_RE = re.compile(r"(?<![a-z])(last|this|next)\s+month(?![a-z])", re.IGNORECASE)
_ISO_RE = re.compile(r"(?<!\d)(20\d{2})[-/.年](\d{1,2})[-/.月](\d{1,2})(?:日|号)?(?!\d)")
_ZH_MD_RE = re.compile(rf"(?<![\d年])({_NUM})月({_NUM})(?:日|号)")
_ZH_D_RE = re.compile(r"(?<![\d月/.-])(\d{1,2})号(?![码楼线门院房])")
_EN_MD_RE = re.compile(
    r"(?<![a-z])(" + "|".join(sorted(_EN_MONTH, key=len, reverse=True)) + r")\.?\s+(\d{1,2})"
    r"(?:st|nd|rd|th)?(?!\d)|(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?("
    + "|".join(sorted(_EN_MONTH, key=len, reverse=True))
    + r")(?![a-z])",
    re.IGNORECASE,
)
_SLASH_MD_RE = re.compile(r"(?<![\d/.-])(\d{1,2})/(\d{1,2})(?![\d/])")

Found = tuple[int, int, str, dict[str, bool | str]]


def _day(start: int, end: int, d: date, *, relative: bool) -> Found:
    return (start, end, d.isoformat(), {"relative": relative, "granularity": "day"})


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _week(today: date, weekday: int, shift: int) -> date:
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 * shift + weekday)


def _relative(text: str, today: date) -> Iterator[Found]:
    for rx, table in ((_ZH_DAY_RE, _ZH_DAYS), (_EN_DAY_RE, _EN_DAYS)):
        for m in rx.finditer(text):
            off = table[m.group(0).lower()]
            yield _day(m.start(), m.end(), today + timedelta(days=off), relative=True)
    shifts = {"上上": -2, "上": -1, "这": 0, "本": 0, "下": 1, "下下": 2, None: 0}
    for m in _ZH_WEEK_RE.finditer(text):
        wd_ch = m.group(2)
        wd = int(wd_ch) - 1 if wd_ch.isdigit() else _ZH_WEEKDAY[wd_ch]
        d = _week(today, wd, shifts[m.group(1)])
        yield _day(m.start(), m.end(), d, relative=True)
    en_shift = {"last": -1, "this": 0, "next": 1, "on": 0, None: 0}
    for m in _EN_WEEK_RE.finditer(text):
        shift_word, day_word = (m.group(1), m.group(2)) if m.group(2) else m.group(3, 4)
        which = shift_word.lower() if shift_word else None
        d = _week(today, _EN_WEEKDAY[day_word.lower()], en_shift[which])
        yield _day(m.start(), m.end(), d, relative=True)
    for m in _ZH_AGO_RE.finditer(text):
        n = parse_number(m.group(1))
        if n is None or n > 400:
            continue
        days = n * (1 if m.group(2) in ("天", "日") else 7)
        sign = -1 if "前" in m.group(3) else 1
        yield _day(m.start(), m.end(), today + timedelta(days=sign * days), relative=True)
    for m in _EN_AGO_RE.finditer(text):
        num, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        n = parse_number(num)
        if n is None or n > 400:
            continue
        days = n * (7 if unit.lower().startswith("week") else 1)
        sign = -1 if m.group(1) else 1
        yield _day(m.start(), m.end(), today + timedelta(days=sign * days), relative=True)


def _months(text: str, today: date) -> Iterator[Found]:
    shifts = {"上上": -2, "上": -1, "这": 0, "本": 0, "下": 1, "last": -1, "this": 0, "next": 1}
    for rx in (_ZH_MONTH_REL_RE, _EN_MONTH_REL_RE):
        for m in rx.finditer(text):
            idx = today.year * 12 + today.month - 1 + shifts[m.group(1).lower()]
            value = f"{idx // 12:04d}-{idx % 12 + 1:02d}"
            yield (m.start(), m.end(), value, {"relative": True, "granularity": "month"})


def _absolute(text: str, today: date) -> Iterator[Found]:
    for m in _ISO_RE.finditer(text):
        d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if d is not None:
            yield _day(m.start(), m.end(), d, relative=False)
    for m in _ZH_MD_RE.finditer(text):
        mo, dd = parse_number(m.group(1)), parse_number(m.group(2))
        d = _safe_date(today.year, mo, dd) if mo and dd else None
        if d is not None:
            yield _day(m.start(), m.end(), d, relative=False)
    for m in _ZH_D_RE.finditer(text):
        d = _safe_date(today.year, today.month, int(m.group(1)))
        if d is not None:
            yield _day(m.start(), m.end(), d, relative=False)
    for m in _EN_MD_RE.finditer(text):
        mon = m.group(1) or m.group(4)
        day_s = m.group(2) or m.group(3)
        d = _safe_date(today.year, _EN_MONTH[mon.lower()], int(day_s))
        if d is not None:
            yield _day(m.start(), m.end(), d, relative=False)
    for m in _SLASH_MD_RE.finditer(text):
        d = _safe_date(today.year, int(m.group(1)), int(m.group(2)))
        if d is not None:
            yield _day(m.start(), m.end(), d, relative=False)


class DateExtractor:
    """Finds dates; `today` is the injected clock (the shop's local date)."""

    def __init__(self, *, today: Callable[[], date]) -> None:
        self._today = today

    def extract(self, text: str) -> list[Entity]:
        today = self._today()
        out: list[Entity] = []
        for gen in (_absolute, _relative, _months):
            for start, end, value, extra in gen(text, today):
                out.append(
                    Entity(type="date", value=value, start=start, end=end, extra=dict(extra))
                )
        return out
