"""Text normalisation before matching: width folding, case, repeated punctuation."""

from __future__ import annotations

import re
import unicodedata

_REPEAT_PUNCT = re.compile(r"([!?！？。.,，~～])\1+")
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, no control characters, squeezed punctuation."""
    t = unicodedata.normalize("NFKC", text)
    t = _CONTROL.sub(" ", t).lower()
    t = _REPEAT_PUNCT.sub(r"\1", t)
    return _SPACE.sub(" ", t).strip()
