"""E-mail addresses, phone numbers, ID numbers and bank cards; and the order / tracking
numbers that look like them but must stay readable.

All patterns run on folded text (`pii_base.fold`) and use ASCII-only boundaries, so "手机
13945671234" matches while "KF2026010100113" and "SF1234567890123" do not.

Long digit runs (15-19 digits) are classified, not matched by shape alone:
- 18 digits (or 17 + X): an ID when the GB 11643 check digit is right, and also when it is
  wrong but digits 7-14 are a real birth date (a customer's typo is still PII);
- 15 digits: an old-form ID when it starts with a province code and holds a YYMMDD date;
- 15-19 digits: a bank card when the Luhn check passes and the first digit is one card
  schemes use (2-6, 9); a Luhn-invalid run is a card only next to a card cue ("卡号",
  "card number"), because uncued it is far more often a marketplace order number (Taobao
  and Tmall use 18-19 digits) that the bot needs to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from kefu.safety.pii_base import Hit, PiiType, word_list

_B = r"(?<![A-Za-z0-9])"  # ASCII left boundary (CJK text around a number is fine)
_E = r"(?![A-Za-z0-9])"

# Local part: RFC 5322 atext and dots (O'Donnell's address has an apostrophe).
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+'!#$&*=?^`{|}~/-])[A-Za-z0-9][A-Za-z0-9._%+'!#$&*=?^`{|}~/-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

# Mainland mobile, optionally +86 / 0086, with or without 3-4-4 separators.
_CN_MOBILE = re.compile(_B + r"(?<!\+)(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# Mainland landline with area code: 010-12345678, (0755) 1234567, 021 1234 5678 转 123.
_CN_LANDLINE = re.compile(
    _B
    + r"(?:\(0\d{2,3}\)\s?|0\d{2,3}[ -]?)\d{3,4}[ -]?\d{4}(?:\s?(?:-|转|ext\.?)\s?\d{1,5})?(?!\d)",
    re.IGNORECASE,
)
# International: +cc then groups; trimmed in code to a plausible length.
_INTL = re.compile(r"(?<![A-Za-z0-9+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{2,11}){1,5}" + _E)
# National formats of other countries: (95) 94215-7906, (990) 199-2504.
_PAREN = re.compile(r"(?<![A-Za-z0-9)])\(\d{2,4}\)[ .-]?\d{3,5}[ .-]?\d{3,4}" + _E)
# North American 555-123-4567 / 555.123.4567 / 555 123 4567.
_NANP = re.compile(r"(?<![A-Za-z0-9.+-])\d{3}([-. ])\d{3}\1\d{4}(?![A-Za-z0-9-])")
# Trunk-prefix national numbers: 0475 4429797, 0932 173 536, 055-9800-4619.
_TRUNK0 = re.compile(r"(?<![A-Za-z0-9.+-])0\d{1,4}(?:[ -]\d{2,8}){1,3}(?![A-Za-z0-9-])")
# A number right after a phone cue, whatever its format.
_PHONE_CUE = re.compile(
    r"(?:电话|手机|座机|联系方式|联系电话|手机号|号码|phone|tel|mobile|cell|call me at|text me at"
    r"|whatsapp)[^0-9+\n]{0,6}?(\+?\d[\d ().-]{5,20}\d)" + _E,
    re.IGNORECASE,
)

_LONG = re.compile(_B + r"(?:\d{15,19}|\d{17}[Xx])" + _E)
_SPACED = re.compile(
    _B + r"(?:\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{5}"
    r"|\d{6}[ -]\d{4}[ -]?\d{4}[ -]?\d{3}[\dXx]|\d{6}[ -]\d{8}[ -]\d{3}[\dXx])" + _E
)
_SSN = re.compile(
    r"(?<![A-Za-z0-9-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![A-Za-z0-9-])"
)
_SSN_CUE = re.compile(
    r"\b(?:SSN|social security(?: number)?)\s*(?:no\.?|number|#)?\s*[:：]?\s*(\d{9})\b", re.I
)
_PASSPORT = re.compile(
    r"(?:passport|护照)\s*(?:no\.?|number|#|号码|号)?\s*(?:is|:|：|是|为)?\s*([A-Za-z]{1,2}\d{6,9})"
    + _E,
    re.IGNORECASE,
)
_HOTLINE_PREFIXES = frozenset(word_list("400 800 888 877 866 855 844 833"))
_CARD_CUE = re.compile(r"卡号|银行|信用卡|借记卡|储蓄卡|账号|帐号|账户|card|acct|account", re.I)
_ID_CUE = re.compile(r"身份证|证件|\bID(?:\s*card)?\b|identity(?:\s*card)?|identification", re.I)

# Never PII: kefu's order ids, tau2 order ids and courier tracking numbers (same formats as
# kefu.nlu.entities), and any number said to be an order or tracking number.
DEFAULT_PROTECTED: tuple[str, ...] = (
    r"(?<![A-Za-z0-9])KF\d{10,14}(?!\d)",
    r"(?<![A-Za-z0-9])#?W\d{7}(?!\d)",
    r"(?<![A-Za-z0-9])SF\d{12,13}(?!\d)",
    r"(?<![A-Za-z0-9])JD[A-Z]{0,2}\d{10,15}(?![A-Za-z0-9])",
    r"(?<![A-Za-z0-9])YT\d{12,16}(?!\d)",
    r"(?<![A-Za-z0-9])E[A-Z]\d{9}CN(?![A-Za-z0-9])",
)
_ORDER_CUE = re.compile(
    r"(?:订单|单号|运单|快递单|物流单|包裹|order|tracking|waybill|parcel|shipment)"
    r"\s*(?:号码|号|编号|number|no\.?|id|#)?\s*(?:is|:|：|是|为)?\s*#?(\d[\d -]{6,24}\d)" + _E,
    re.IGNORECASE,
)

# GB 11643 region codes: first two digits (province level).
_PROVINCES = frozenset(
    word_list(
        "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 "
        "63 64 65 71 81 82 83"
    )
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def protected_spans(text: str, patterns: Iterable[re.Pattern[str]]) -> list[tuple[int, int]]:
    spans = [m.span() for rx in patterns for m in rx.finditer(text)]
    spans += [m.span(1) for m in _ORDER_CUE.finditer(text)]
    return spans


def find_emails(text: str) -> list[Hit]:
    if "@" not in text:
        return []
    return [Hit(PiiType.EMAIL, *m.span()) for m in EMAIL.finditer(text)]


def find_phones(text: str) -> list[Hit]:
    hits = [Hit(PiiType.PHONE, *m.span()) for m in _CN_MOBILE.finditer(text)]
    hits += [Hit(PiiType.PHONE, *m.span()) for m in _CN_LANDLINE.finditer(text)]
    hits += [Hit(PiiType.PHONE, *m.span()) for m in _PAREN.finditer(text)]
    hits += [Hit(PiiType.PHONE, *m.span()) for m in _NANP.finditer(text) if not _hotline(m.group())]
    for m in _INTL.finditer(text):
        end = _trim_international(m.group(0))
        if end:
            hits.append(Hit(PiiType.PHONE, m.start(), m.start() + end))
    for m in _TRUNK0.finditer(text):
        groups = re.split(r"[ -]", m.group(0))
        digits = sum(len(g) for g in groups)
        shape = [len(g) for g in groups]
        if 9 <= digits <= 12 and shape not in ([5, 4], [3, 2, 4]):  # zip+4, SSN
            hits.append(Hit(PiiType.PHONE, *m.span()))
    for m in _PHONE_CUE.finditer(text):
        if 7 <= sum(c.isdigit() for c in m.group(1)) <= 15 and not _hotline(m.group(1)):
            hits.append(Hit(PiiType.PHONE, *m.span(1)))
    return hits


def _hotline(number: str) -> bool:
    """Business hotlines (400/800 in China, toll-free in North America) are not personal."""
    digits = "".join(c for c in number if c.isdigit())
    return len(digits) == 10 and digits[:3] in _HOTLINE_PREFIXES


def _trim_international(number: str) -> int:
    """Length of the plausible phone number at the start of an "+cc …" match, or 0. Groups
    are added while the national number has fewer than 10 digits, so a quantity written
    after the number ("+86 13945671234 20") is left out."""
    groups = list(re.finditer(r"\d+", number))
    if len(groups) == 1:  # +8613945671234: where the country code ends is unknown
        return len(number) if 9 <= len(number) <= 16 else 0
    national = 0
    end = groups[0].end()
    for g in groups[1:]:
        if national >= 10:
            break
        national += len(g.group(0))
        end = g.end()
    return end if 7 <= national <= 12 else 0


def find_ids_and_cards(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for rx in (_LONG, _SPACED):
        for m in rx.finditer(text):
            kind = classify_number(
                re.sub(r"[ -]", "", m.group(0)), text[max(0, m.start() - 24) : m.start()]
            )
            if kind is not None:
                hits.append(Hit(kind, *m.span()))
    hits += [Hit(PiiType.ID, *m.span()) for m in _SSN.finditer(text)]
    hits += [Hit(PiiType.ID, *m.span(1)) for m in _SSN_CUE.finditer(text)]
    hits += [Hit(PiiType.ID, *m.span(1)) for m in _PASSPORT.finditer(text)]
    return hits


def classify_number(digits: str, before: str) -> PiiType | None:
    """ID, card or neither for a 15-19 character run (digits, maybe a final X), given the
    text just before it (for cues)."""
    n = len(digits)
    if n == 18 and (id18_valid(digits) or birth_date_ok(digits[6:14])):
        return PiiType.ID
    if n == 15 and old_id_valid(digits):
        return PiiType.ID
    cue = _nearest_cue(before)
    if cue is PiiType.ID:  # "ID card number …": the customer says what it is
        return PiiType.ID
    if digits.isdigit() and 15 <= n <= 19:
        if luhn_valid(digits) and digits[0] in "234569":
            return PiiType.CARD
        if n >= 16 and cue is PiiType.CARD:
            return PiiType.CARD
    return None


def _nearest_cue(before: str) -> PiiType | None:
    """ID or card, whichever cue comes last before the number ("card" inside "ID card"
    is an ID cue)."""
    id_spans = [m.span() for m in _ID_CUE.finditer(before)]
    last_id = max((e for _, e in id_spans), default=-1)
    last_card = max(
        (
            m.end()
            for m in _CARD_CUE.finditer(before)
            if not any(s <= m.start() < e for s, e in id_spans)
        ),
        default=-1,
    )
    if last_id == last_card:  # both -1
        return None
    return PiiType.ID if last_id > last_card else PiiType.CARD


def id18_valid(number: str) -> bool:
    """GB 11643-1999 check digit of an 18-character ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def old_id_valid(number: str) -> bool:
    """The 15-digit ID of before 1999: region code, then YYMMDD, then three digits."""
    return (
        len(number) == 15
        and number.isdigit()
        and number[:2] in _PROVINCES
        and birth_date_ok("19" + number[6:12])
    )


def birth_date_ok(yyyymmdd: str) -> bool:
    if len(yyyymmdd) != 8 or not yyyymmdd.isdigit():
        return False
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
