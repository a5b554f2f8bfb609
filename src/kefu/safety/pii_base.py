"""Types shared by the PII finders: the PII types, a raw hit, and text folding."""

from __future__ import annotations

from bisect import bisect_left, insort
from enum import StrEnum
from typing import NamedTuple


class PiiType(StrEnum):
    """What a span is. The order of `PRIORITY` decides overlaps: the more specific wins."""

    EMAIL = "email"
    ID = "id"  # national ID card (GB 11643), old 15-digit ID, US SSN, passport
    CARD = "card"
    PHONE = "phone"
    ADDRESS = "address"
    NAME = "name"


PRIORITY: dict[PiiType, int] = {t: i for i, t in enumerate(PiiType)}


class Hit(NamedTuple):
    """A finder's raw result: a type and a span of the (folded) text."""

    type: PiiType
    start: int
    end: int


_FOLD = {o: o - 0xFEE0 for o in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = ord(" ")
_FOLD.update({o: ord("-") for o in range(0x2010, 0x2016)})  # hyphens and dashes
_FOLD[0x2212] = ord("-")  # minus sign


def fold(text: str) -> str:
    """Full-width ASCII to ASCII, the ideographic space to a space and dashes to "-".
    One character for one, so spans found in the result index the original text."""
    return text.translate(_FOLD)


def is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def word_list(text: str) -> list[str]:
    """The white-space separated words of a long literal (word lists read better that way)."""
    return text.split()


class Taken:
    """Non-overlapping spans already given out; `free` and `take` cost O(log n)."""

    def __init__(self) -> None:
        self._spans: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        i = bisect_left(self._spans, (end, end))
        return i == 0 or self._spans[i - 1][1] <= start

    def take(self, start: int, end: int) -> None:
        """Marks a span; overlapping marks merge (protected spans may overlap)."""
        i = bisect_left(self._spans, (start, start))
        while i > 0 and self._spans[i - 1][1] > start:
            i -= 1
        while i < len(self._spans) and self._spans[i][0] < end:
            s, e = self._spans.pop(i)
            start, end = min(start, s), max(end, e)
        insort(self._spans, (start, end))
