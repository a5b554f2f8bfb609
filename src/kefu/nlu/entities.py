"""Pattern-based entity extractors: order ids, phones, tracking numbers, e-mail, amounts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kefu.nlu.base import Entity

# kefu's own order ids (KF + 10-14 digits) and the tau2-bench retail format (#W + 7 digits).
DEFAULT_ORDER_PATTERNS: tuple[str, ...] = (
    r"(?<![A-Za-z0-9])KF\d{10,14}(?!\d)",
    r"#?W\d{7}(?!\d)",
)

# Courier tracking numbers. Prefixed formats first: they are unambiguous.
COURIER_PATTERNS: tuple[tuple[str, str], ...] = (
    ("SF", r"(?<![A-Za-z0-9])SF\d{12,15}(?!\d)"),
    ("JD", r"(?<![A-Za-z0-9])JD[A-Z0-9]{11,15}(?![A-Za-z0-9])"),
    ("YTO", r"(?<![A-Za-z0-9])YT\d{13,15}(?!\d)"),
    ("EMS", r"(?<![A-Za-z0-9])E[A-Z]\d{9}CN(?![A-Za-z0-9])"),
)

_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_AMOUNT = re.compile(
    r"(?:[¥￥$]\s?(\d+(?:\.\d{1,2})?))|(?:(\d+(?:\.\d{1,2})?)\s?(?:元|块钱|块|rmb|RMB|yuan|dollars?))"
)


@dataclass(frozen=True, slots=True)
class _Pattern:
    type: str
    regex: re.Pattern[str]
    courier: str | None = None


class RegexEntityExtractor:
    """Finds entities with regular expressions. Overlaps resolve to the earliest, longest."""

    def __init__(self, *, order_patterns: Iterable[str] = DEFAULT_ORDER_PATTERNS) -> None:
        pats = [_Pattern("order_id", re.compile(p)) for p in order_patterns]
        if not pats:
            raise ValueError("at least one order id pattern is needed")
        pats += [
            _Pattern("tracking_number", re.compile(p), courier) for courier, p in COURIER_PATTERNS
        ]
        self._patterns = pats

    def extract(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        upper = text.upper()
        for p in self._patterns:
            for m in p.regex.finditer(upper):
                value = m.group(0)
                if p.type == "order_id":
                    value = value.lstrip("#")
                    value = ("#" + value) if value.startswith("W") else value
                extra = {"courier": p.courier} if p.courier else {}
                found.append(
                    Entity(type=p.type, value=value, start=m.start(), end=m.end(), extra=extra)
                )
        for m in _PHONE.finditer(text):
            found.append(
                Entity(type="phone", value="".join(m.groups()), start=m.start(), end=m.end())
            )
        for m in _EMAIL.finditer(text):
            found.append(Entity(type="email", value=m.group(0).lower(), start=m.start(), end=m.end()))
        for m in _AMOUNT.finditer(text):
            num = m.group(1) or m.group(2)
            found.append(Entity(type="amount", value=num, start=m.start(), end=m.end()))
        return _resolve_overlaps(found)


def _resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    entities.sort(key=lambda e: (e.start, -(e.end - e.start)))
    out: list[Entity] = []
    last_end = -1
    for e in entities:
        if e.start >= last_end:
            out.append(e)
            last_end = e.end
    return out
