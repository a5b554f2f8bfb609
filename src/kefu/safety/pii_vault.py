"""`PiiVault`: per-session, reversible masking with typed placeholders ([PHONE_1] …)."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypedDict

from kefu.safety.pii_base import PiiType
from kefu.safety.pii_detector import PiiDetector, default_detector

LABELS: dict[PiiType, str] = {t: t.value.upper() for t in PiiType}
_TYPES = {label: t for t, label in LABELS.items()}
# Lenient on the way back: an LLM may write [phone_1], 【PHONE_1】 or [ PHONE_1 ].
PLACEHOLDER = re.compile(
    r"[\[【［]\s*(" + "|".join(LABELS.values()) + r")_(\d{1,9})\s*[\]】］]", re.IGNORECASE
)
_VERSION = 1


class VaultState(TypedDict):
    """`PiiVault.to_dict()`: plain JSON types. `entries` are [placeholder, original],
    least recently used first. Holds personal data: keep it with the session, never log it."""

    version: int
    max_entries: int
    counters: dict[str, int]
    entries: list[list[str]]


class PiiVault:
    """Masks text with placeholders and puts the originals back, for one session.

    The same value (after normalising: digits of a phone number, lower-cased e-mail …) gets
    the same placeholder for as long as it stays in the vault. The vault keeps at most
    `max_entries` values; past that the least recently used is dropped, and its number is
    never given to another value (an old placeholder stays unresolved rather than wrong).
    """

    def __init__(self, *, detector: PiiDetector | None = None, max_entries: int = 512) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._detector = detector
        self._max = max_entries
        self._values: OrderedDict[str, str] = OrderedDict()  # placeholder -> original
        self._by_key: dict[tuple[PiiType, str], str] = {}
        self._counters: dict[PiiType, int] = dict.fromkeys(PiiType, 0)

    @property
    def placeholders(self) -> Mapping[str, str]:
        """Placeholder -> original value (read-only view)."""
        return MappingProxyType(self._values)

    @property
    def max_entries(self) -> int:
        return self._max

    def __len__(self) -> int:
        return len(self._values)

    def mask(self, text: str) -> str:
        detector = self._detector or default_detector()
        out: list[str] = []
        pos = 0
        for span in detector.find(text):
            out += (text[pos : span.start], self._placeholder(span.type, span.value))
            pos = span.end
        out.append(text[pos:])
        return "".join(out)

    def unmask(self, text: str) -> str:
        """Puts back every placeholder this vault knows; unknown ones are left as written."""

        def back(m: re.Match[str]) -> str:
            key = f"[{m.group(1).upper()}_{int(m.group(2))}]"
            return self._values.get(key, m.group(0))

        return PLACEHOLDER.sub(back, text)

    def clear(self) -> None:
        self._values.clear()
        self._by_key.clear()

    def _placeholder(self, type_: PiiType, value: str) -> str:
        key = (type_, normalise(type_, value))
        placeholder = self._by_key.get(key)
        if placeholder is None:
            self._counters[type_] += 1
            placeholder = f"[{LABELS[type_]}_{self._counters[type_]}]"
            self._by_key[key] = placeholder
            self._values[placeholder] = value
            while len(self._values) > self._max:
                old, old_value = self._values.popitem(last=False)
                self._by_key.pop((_type_of(old), normalise(_type_of(old), old_value)), None)
        else:
            self._values.move_to_end(placeholder)
        return placeholder

    def to_dict(self) -> VaultState:
        return {
            "version": _VERSION,
            "max_entries": self._max,
            "counters": {LABELS[t]: n for t, n in self._counters.items()},
            "entries": [[p, v] for p, v in self._values.items()],
        }

    @classmethod
    def from_dict(
        cls, state: Mapping[str, object], *, detector: PiiDetector | None = None
    ) -> PiiVault:
        """Rebuilds a vault from `to_dict()`; raises ValueError on anything malformed."""
        max_entries, counters, entries = (
            state.get("max_entries"),
            state.get("counters"),
            state.get("entries"),
        )
        if state.get("version") != _VERSION or not isinstance(max_entries, int):
            raise ValueError("not a PiiVault state (version or max_entries)")
        if not isinstance(counters, Mapping) or not isinstance(entries, list):
            raise ValueError("not a PiiVault state (counters or entries)")
        vault = cls(detector=detector, max_entries=max_entries)
        for label, n in counters.items():
            if label not in _TYPES or not isinstance(n, int) or n < 0:
                raise ValueError(f"bad counter {label!r}")
            vault._counters[_TYPES[label]] = n
        for entry in entries:
            if not (isinstance(entry, list | tuple) and len(entry) == 2):
                raise ValueError("an entry is not a [placeholder, value] pair")
            placeholder, value = entry
            m = PLACEHOLDER.fullmatch(placeholder) if isinstance(placeholder, str) else None
            if m is None or not isinstance(value, str) or placeholder != m.group(0).upper():
                raise ValueError(f"bad entry {placeholder!r}")
            type_ = _TYPES[m.group(1)]
            if int(m.group(2)) > vault._counters[type_]:
                raise ValueError(f"{placeholder} is above its type's counter")
            vault._values[placeholder] = value
            vault._by_key[(type_, normalise(type_, value))] = placeholder
        while len(vault._values) > vault._max:
            old, old_value = vault._values.popitem(last=False)
            vault._by_key.pop((_type_of(old), normalise(_type_of(old), old_value)), None)
        return vault


def _type_of(placeholder: str) -> PiiType:
    return _TYPES[placeholder[1 : placeholder.rindex("_")]]


def normalise(type_: PiiType, value: str) -> str:
    """The form under which two spellings of one value share a placeholder."""
    if type_ in (PiiType.PHONE, PiiType.CARD, PiiType.ID):
        digits = "".join(c for c in value.upper() if c.isdigit() or c == "X")
        if type_ is PiiType.PHONE and len(digits) == 13 and digits.startswith("861"):
            return digits[2:]
        return digits or value
    return " ".join(value.split()).casefold()
