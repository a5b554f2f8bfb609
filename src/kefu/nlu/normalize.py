"""Text normalisation before matching and classifying.

Two functions with different promises:

- `fold_width` keeps every character in place (same length), so spans found in its output
  index the customer's original text. Entity extractors use it.
- `normalize` is free to change the length: NFKC (full width to half width), traditional to
  simplified Chinese (OpenCC), no emoji or control characters, lower case, squeezed
  punctuation and letter runs. Rules and the classifier see its output.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_REPEAT_PUNCT = re.compile(r"([!?！？。.,，~～、…·\-_=*#])\1+")
_REPEAT_CHAR = re.compile(r"([^\W\d])\1{2,}")
_SPACE = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])| (?=[!?,.:;~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f]")
# Emoji and pictographs, their modifiers, joiners and variation selectors.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U0001fc00-\U0001ffff\u2600-\u27bf\u2b00-\u2bff"
    "\ufe00-\ufe0f\u200d\u20e3\U000e0020-\U000e007f]"
)
_MAX_CHARS = 4000
# Internet spellings with one meaning, written as the standard word.
_SLANG = {
    "木有": "没有",
    "神马": "什么",
    "肿么": "怎么",
    "介个": "这个",
    "酱紫": "这样子",
    "虾米": "什么",
}
_SLANG_RE = re.compile("|".join(_SLANG))


def fold_width(text: str) -> str:
    """Full-width ASCII to ASCII and the ideographic space to a space; length unchanged."""
    out: list[str] = []
    for ch in text:
        o = ord(ch)
        if 0xFF01 <= o <= 0xFF5E:
            out.append(chr(o - 0xFEE0))
        elif o == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    # A read-only conversion table, loaded once per process on first use.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (a no-op on simplified text and on other scripts)."""
    if not text or text.isascii():
        return text
    try:
        return str(_t2s().convert(text))
    except Exception:  # a broken surrogate or an OpenCC hiccup must never break a turn
        return text


def strip_emoji(text: str) -> str:
    return _EMOJI.sub(" ", text)


def normalize(text: str) -> str:
    """The text rules and the classifier see. Never raises; may be empty."""
    t = text[:_MAX_CHARS]
    t = t.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    t = unicodedata.normalize("NFKC", t)
    t = _CONTROL.sub(" ", t)
    t = strip_emoji(t)
    t = to_simplified(t).lower()
    t = _SLANG_RE.sub(lambda m: _SLANG[m.group(0)], t)
    t = _REPEAT_PUNCT.sub(r"\1", t)
    t = _REPEAT_CHAR.sub(r"\1\1", t)
    t = _SPACE.sub(" ", t).strip()
    return _CJK_GAP.sub("", t)
