"""Entity extractors. Every entity carries its span in the customer's original text.

`RegexEntityExtractor` finds order ids (configurable patterns), tracking numbers with their
courier, courier names, phone numbers, e-mail addresses, amounts, dates (relative ones
resolved with an injected clock), sizes, colours and quantities.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date

from kefu.nlu.base import Entity
from kefu.nlu.entities.attributes import extract_attributes
from kefu.nlu.entities.couriers import COURIER_NAMES, extract_tracking
from kefu.nlu.entities.dates import DateExtractor
from kefu.nlu.entities.numerals import ZH_NUMERAL_CHARS, parse_number
from kefu.nlu.normalize import fold_width

__all__ = ["COURIER_NAMES", "DEFAULT_ORDER_PATTERNS", "RegexEntityExtractor"]

# kefu's own order ids (KF + 10-14 digits) and the tau2-bench retail format (#W + 7 digits).
DEFAULT_ORDER_PATTERNS: tuple[str, ...] = (
    r"(?<![A-Za-z0-9])KF\d{10,14}(?!\d)",
    r"(?<![A-Za-z0-9])#?W\d{7}(?!\d)",
)

_PHONE = re.compile(r"(?<![\d+])(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z])"
)
_AMOUNT = re.compile(
    r"(?:[¥￥$]\s?(\d+(?:\.\d{1,2})?))"
    r"|(?:(\d+(?:\.\d{1,2})?)\s?(?:元|块钱|块|rmb|yuan|dollars?|usd|美元)(?![A-Za-z]))"
    rf"|(?:(?<![{ZH_NUMERAL_CHARS}])([{ZH_NUMERAL_CHARS}]{{1,6}})(?:元|块钱|块)(?!钱))",
    re.IGNORECASE,
)
# Which entity wins when spans overlap: identifiers first, then the rest.
_PRIORITY = {
    "order_id": 0,
    "tracking_number": 1,
    "phone": 2,
    "email": 3,
    "amount": 4,
    "date": 5,
    "size": 6,
    "quantity": 7,
    "color": 8,
    "courier": 9,
}


def _today() -> date:
    return date.today()


class RegexEntityExtractor:
    """Finds entities with regular expressions. Overlaps resolve by type priority (ids
    first), then earliest, then longest. Never raises on odd text."""

    def __init__(
        self,
        *,
        order_patterns: Iterable[str] = DEFAULT_ORDER_PATTERNS,
        today: Callable[[], date] = _today,
    ) -> None:
        try:
            self._orders = [re.compile(p, re.IGNORECASE) for p in order_patterns]
        except re.error as exc:
            raise ValueError(f"bad order id pattern: {exc}") from exc
        if not self._orders:
            raise ValueError("at least one order id pattern is needed")
        self._dates = DateExtractor(today=today)

    def extract(self, text: str) -> list[Entity]:
        t = fold_width(text)
        found: list[Entity] = []
        for rx in self._orders:
            for m in rx.finditer(t):
                found.append(_order(m.group(0), m.start(), m.end()))
        found += extract_tracking(t)
        for m in _PHONE.finditer(t):
            found.append(
                Entity(type="phone", value="".join(m.groups()), start=m.start(), end=m.end())
            )
        for m in _EMAIL.finditer(t):
            found.append(
                Entity(type="email", value=m.group(0).lower(), start=m.start(), end=m.end())
            )
        for m in _AMOUNT.finditer(t):
            found += _amount(m)
        found += self._dates.extract(t)
        found += extract_attributes(t)
        return resolve_overlaps(found)


def _order(raw: str, start: int, end: int) -> Entity:
    value = raw.upper()
    if value.startswith(("W", "#W")):
        value = "#" + value.lstrip("#")
    return Entity(type="order_id", value=value, start=start, end=end)


def _amount(m: re.Match[str]) -> list[Entity]:
    if m.group(3):
        n = parse_number(m.group(3))
        if n is None:
            return []
        value = str(n)
    else:
        value = m.group(1) or m.group(2)
    return [Entity(type="amount", value=value, start=m.start(), end=m.end())]


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep non-overlapping entities, preferring higher-priority types, then earlier, longer."""
    ranked = sorted(
        entities, key=lambda e: (_PRIORITY.get(e.type, 99), e.start, -(e.end - e.start))
    )
    taken: list[Entity] = []
    for e in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in taken):
            taken.append(e)
    return sorted(taken, key=lambda e: e.start)
