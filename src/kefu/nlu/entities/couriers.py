"""Tracking numbers of the main Chinese couriers, and which courier a number belongs to.

Prefixed formats (SF…, JD…, YT…, E?…CN) name their courier. Digit-only numbers are
ambiguous between couriers; they are taken as tracking numbers when their prefix is one a
courier uses, or when the message names a courier or says "运单号" / "tracking number", and
the courier is the one named nearest to the number, else the one the prefix suggests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.nlu.base import Entity

COURIER_NAMES: dict[str, dict[str, str]] = {
    "SF": {"zh": "顺丰速运", "en": "SF Express"},
    "JD": {"zh": "京东物流", "en": "JD Logistics"},
    "ZTO": {"zh": "中通快递", "en": "ZTO Express"},
    "YTO": {"zh": "圆通速递", "en": "YTO Express"},
    "STO": {"zh": "申通快递", "en": "STO Express"},
    "YUNDA": {"zh": "韵达快递", "en": "Yunda Express"},
    "EMS": {"zh": "中国邮政 EMS", "en": "China Post EMS"},
}

# Mentions of a courier in the text, by code.
_MENTIONS: tuple[tuple[str, str], ...] = (
    ("SF", r"顺丰|(?<![a-z])(?:sf\s?express|s\.f\.|sf)(?![a-z0-9])"),
    ("JD", r"京东(?:物流|快递|配送)|(?<![a-z])jd\s?(?:logistics|express)"),
    ("ZTO", r"中通|(?<![a-z])zto(?![a-z])"),
    ("YTO", r"圆通|(?<![a-z])yto(?![a-z])"),
    ("STO", r"申通|(?<![a-z])sto(?![a-z])"),
    ("YUNDA", r"韵达|(?<![a-z])yunda(?![a-z])"),
    ("EMS", r"邮政|(?<![a-z])(?:ems|china\s?post)(?![a-z])"),
)
MENTION_RES = tuple((code, re.compile(p, re.IGNORECASE)) for code, p in _MENTIONS)

# Formats that carry their courier in the number itself.
PREFIXED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SF", re.compile(r"(?<![A-Za-z0-9])SF\d{12,13}(?!\d)", re.IGNORECASE)),
    ("JD", re.compile(r"(?<![A-Za-z0-9])JD[A-Z]{0,2}\d{10,15}(?![A-Za-z0-9])", re.IGNORECASE)),
    ("YTO", re.compile(r"(?<![A-Za-z0-9])YT\d{12,16}(?!\d)", re.IGNORECASE)),
    ("EMS", re.compile(r"(?<![A-Za-z0-9])E[A-Z]\d{9}CN(?![A-Za-z0-9])", re.IGNORECASE)),
)
# Digit-only numbers: prefixes each courier is known to use (a heuristic, first hit wins).
DIGIT_PREFIXES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ZTO", re.compile(r"7[35689]\d{12}")),
    ("STO", re.compile(r"77\d{11}|[2-9]68\d{9}")),
    ("YUNDA", re.compile(r"(?:31|33|43|46|47)\d{11}")),
    ("EMS", re.compile(r"(?:10|11|50|51|95|97|98|99)\d{11}")),
)
_DIGITS = re.compile(r"(?<![A-Za-z0-9#])\d{12,15}(?![A-Za-z0-9])")
_CUE = re.compile(r"运单|快递单|物流单|单号|tracking|waybill", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Mention:
    code: str
    start: int
    end: int


def find_mentions(text: str) -> list[_Mention]:
    out = [
        _Mention(code, m.start(), m.end()) for code, rx in MENTION_RES for m in rx.finditer(text)
    ]
    return sorted(out, key=lambda m: m.start)


def guess_courier(number: str) -> str | None:
    """The courier whose numbering a digit-only tracking number fits, if any."""
    for code, rx in DIGIT_PREFIXES:
        if rx.fullmatch(number):
            return code
    return None


def _nearest(mentions: list[_Mention], start: int, end: int) -> str | None:
    if not mentions:
        return None
    best = min(mentions, key=lambda m: min(abs(m.end - start), abs(end - m.start)))
    return best.code


def extract_tracking(text: str) -> list[Entity]:
    """Tracking numbers (with `extra.courier`) and courier mentions (type `courier`)."""
    mentions = find_mentions(text)
    found: list[Entity] = [
        Entity(type="courier", value=m.code, start=m.start, end=m.end) for m in mentions
    ]
    for code, rx in PREFIXED:
        for m in rx.finditer(text):
            found.append(_tracking(m.group(0).upper(), m.start(), m.end(), code))
    cue = bool(mentions) or _CUE.search(text) is not None
    for m in _DIGITS.finditer(text):
        number = m.group(0)
        courier = _nearest(mentions, m.start(), m.end()) or guess_courier(number)
        if courier is None and not cue:
            continue
        found.append(_tracking(number, m.start(), m.end(), courier))
    return found


def _tracking(value: str, start: int, end: int, courier: str | None) -> Entity:
    return Entity(
        type="tracking_number", value=value, start=start, end=end, extra={"courier": courier}
    )
