"""Product attributes and quantities: size ("XL", "38码"), colour ("黑色", "navy"), "两件".

Colour values are canonical English names (`black`), with the words the customer used in
`extra.text` and the Chinese name in `extra.zh`, so a catalog in either language can match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kefu.domain.types import JsonValue
from kefu.nlu.base import Entity
from kefu.nlu.entities.numerals import EN_NUMBERS, ZH_NUMERAL_CHARS, parse_number

COLOURS: dict[str, tuple[str, tuple[str, ...]]] = {
    # canonical: (Chinese name, other Chinese and English words for it)
    "black": ("黑色", ("黑色", "纯黑", "黑", "black")),
    "white": ("白色", ("白色", "纯白", "白", "white")),
    "red": ("红色", ("红色", "大红", "红", "red")),
    "blue": ("蓝色", ("蓝色", "宝蓝", "蓝", "blue")),
    "navy": ("藏青色", ("藏青色", "藏青", "藏蓝色", "藏蓝", "深蓝色", "深蓝", "navy")),
    "light blue": ("浅蓝色", ("浅蓝色", "浅蓝", "天蓝色", "天蓝", "light blue", "sky blue")),
    "green": ("绿色", ("绿色", "绿", "green")),
    "army green": ("军绿色", ("军绿色", "军绿", "墨绿色", "墨绿", "olive", "army green")),
    "yellow": ("黄色", ("黄色", "黄", "yellow")),
    "purple": ("紫色", ("紫色", "紫", "purple", "violet")),
    "pink": ("粉色", ("粉色", "粉红色", "粉红", "粉", "pink")),
    "rose": ("玫红色", ("玫红色", "玫红", "rose")),
    "wine red": ("酒红色", ("酒红色", "酒红", "burgundy", "maroon", "wine red")),
    "grey": ("灰色", ("灰色", "深灰", "浅灰", "灰", "grey", "gray")),
    "brown": ("棕色", ("棕色", "咖啡色", "咖色", "棕", "brown")),
    "orange": ("橙色", ("橙色", "橘色", "橙", "orange")),
    "beige": ("米色", ("米白色", "米白", "米色", "杏色", "beige", "cream")),
    "khaki": ("卡其色", ("卡其色", "卡其", "khaki")),
    "silver": ("银色", ("银色", "silver")),
    "gold": ("金色", ("金色", "香槟色", "香槟金", "gold", "champagne")),
    "transparent": ("透明", ("透明色", "透明", "transparent", "clear")),
}
_COLOUR_OF = {word: canon for canon, (_, words) in COLOURS.items() for word in words}
_ZH_WORDS = sorted((w for w in _COLOUR_OF if not w.isascii()), key=len, reverse=True)
_EN_WORDS = sorted((w for w in _COLOUR_OF if w.isascii()), key=len, reverse=True)
_ZH_SINGLE = [w for w in _ZH_WORDS if len(w) == 1]
_ZH_MULTI = [w for w in _ZH_WORDS if len(w) > 1]
# Two-character Chinese colours stand alone; a bare "黑"/"白" only with 色/的/款 after it and a
# choosing verb or measure word before it ("要黑的", "换个白款"), since 白 is also in 明白.
_ZH_COLOUR_RE = re.compile(
    "(?:" + "|".join(_ZH_MULTI) + ")"
    r"|(?<=[要换买选拿发个件双条款种那这])(?:" + "|".join(_ZH_SINGLE) + r")(?=[的款色])"
)
_EN_COLOUR_RE = re.compile(
    r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in _EN_WORDS) + r")(?![a-z])", re.IGNORECASE
)

_LETTER = r"(?:[2-5]X[SL]|X{1,3}[SL]|[SML])"
_SIZE_RES: tuple[re.Pattern[str], ...] = (
    # letter sizes: XL, XXL, 2XL anywhere; S/M/L only next to a size word
    re.compile(r"(?<![A-Za-z0-9])(?:[2-5]XL|X{1,3}[SL])(?![A-Za-z])"),
    re.compile(rf"(?<=[码号换要穿选拿件])\s?{_LETTER}(?![A-Za-z])"),
    re.compile(rf"(?<![A-Za-z0-9]){_LETTER}\s?(?=码|号|的|size)", re.IGNORECASE),
    re.compile(rf"(?<=size )\s*{_LETTER}(?![A-Za-z])", re.IGNORECASE),
    # numeric sizes: 38码, 42号, size 9, 175/92A, 均码
    re.compile(r"(?<!\d)\d{2,3}(?:\.5)?\s?(?=码)"),
    re.compile(r"(?<![\d/])1[4-9]\d/\d{2,3}[A-C]?(?![\d/])"),
    re.compile(r"(?<=size )\s*\d{1,2}(?:\.5)?(?!\d)", re.IGNORECASE),
    re.compile(r"均码|大一码|小一码|大一号|小一号"),
)
_SIZE_WORDS = {"均码": "ONE SIZE", "大一码": "+1", "大一号": "+1", "小一码": "-1", "小一号": "-1"}

_ZH_UNITS = "件个双条套盒瓶包台本支只张袋箱份把顶副罐桶组"
_ZH_QTY_RE = re.compile(
    rf"(?<![\d{ZH_NUMERAL_CHARS}])(\d{{1,4}}|[{ZH_NUMERAL_CHARS}]{{1,4}})\s?([{_ZH_UNITS}])"
)
_EN_QTY_RE = re.compile(
    r"(?<![a-z0-9])(\d{1,4}|" + "|".join(sorted(EN_NUMBERS, key=len, reverse=True)) + r")\s+"
    r"(pieces?|pcs|items?|units?|pairs?|boxes|box|bottles?|sets?|packs?|bags?|copies)"
    r"(?![a-z])",
    re.IGNORECASE,
)
_TIMES_RE = re.compile(r"(?<![A-Za-z0-9])[x×*]\s?(\d{1,3})(?![\d.])", re.IGNORECASE)


def _colours(text: str) -> Iterator[Entity]:
    for rx in (_ZH_COLOUR_RE, _EN_COLOUR_RE):
        for m in rx.finditer(text):
            surface = m.group(0)
            canon = _COLOUR_OF[surface.lower()]
            extra: dict[str, JsonValue] = {"text": surface, "zh": COLOURS[canon][0]}
            yield Entity(type="color", value=canon, start=m.start(), end=m.end(), extra=extra)


def _sizes(text: str) -> Iterator[Entity]:
    for rx in _SIZE_RES:
        for m in rx.finditer(text):
            raw = m.group(0)
            lead = len(raw) - len(raw.lstrip())
            raw = raw.strip()
            value = _SIZE_WORDS.get(raw, raw.upper())
            yield Entity(type="size", value=value, start=m.start() + lead, end=m.end())


def _quantities(text: str) -> Iterator[Entity]:
    for m in _ZH_QTY_RE.finditer(text):
        n = parse_number(m.group(1))
        if n is not None and 0 < n <= 9999:
            yield Entity(
                type="quantity",
                value=str(n),
                start=m.start(),
                end=m.end(),
                extra={"unit": m.group(2)},
            )
    for m in _EN_QTY_RE.finditer(text):
        n = parse_number(m.group(1))
        if n is not None and 0 < n <= 9999:
            yield Entity(
                type="quantity",
                value=str(n),
                start=m.start(),
                end=m.end(),
                extra={"unit": m.group(2).lower()},
            )
    for m in _TIMES_RE.finditer(text):
        yield Entity(type="quantity", value=str(int(m.group(1))), start=m.start(), end=m.end())


def extract_attributes(text: str) -> list[Entity]:
    """Sizes, colours and quantities in `text` (width-folded, original length)."""
    return [*_sizes(text), *_colours(text), *_quantities(text)]
