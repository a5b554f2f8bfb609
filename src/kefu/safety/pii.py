"""PII detection and masking for Chinese and English customer text.

    detector = default_detector()          # cached, built on first use
    detector.find("我叫王小明，手机13945671234")  # [PiiSpan(name …), PiiSpan(phone …)]

    vault = PiiVault()                     # one per session, in memory only
    masked = vault.mask("call me at (555) 123-4567")   # "call me at [PHONE_1]"
    vault.unmask(llm_reply)                # "[PHONE_1]" -> "(555) 123-4567"

    mask_text(line)                        # one-shot, for logs and audit records
    handler.addFilter(PiiLogFilter())      # masks every record a handler emits

Types and placeholders: phone [PHONE_n], ID number (Chinese ID, old 15-digit ID, SSN,
passport) [ID_n], bank card [CARD_n], e-mail [EMAIL_n], address [ADDRESS_n], name [NAME_n].
Order ids (KF…, #W…) and tracking numbers (SF…, JD…, YT…) are never masked. How each type
is found, and what is deliberately left alone, is in the `pii_*` modules' docstrings.
"""

from __future__ import annotations

import logging

from kefu.safety.pii_base import PiiType
from kefu.safety.pii_detector import PiiDetector, PiiSpan, default_detector
from kefu.safety.pii_vault import PLACEHOLDER, PiiVault, VaultState

__all__ = [
    "PLACEHOLDER",
    "PiiDetector",
    "PiiLogFilter",
    "PiiSpan",
    "PiiType",
    "PiiVault",
    "VaultState",
    "default_detector",
    "mask_text",
]


def mask_text(text: str, detector: PiiDetector | None = None) -> str:
    """Masks text with placeholders numbered for this text alone; keeps nothing."""
    return PiiVault(detector=detector, max_entries=1_000_000).mask(text)


class PiiLogFilter(logging.Filter):
    """Masks personal data in log records: the formatted message (arguments included) and
    any exception or stack text. Install it on handlers to cover records propagated from
    child loggers (a logger's own filters only see records logged on that logger). Extra
    attributes passed with `extra=` are not inspected."""

    def __init__(self, name: str = "", *, detector: PiiDetector | None = None) -> None:
        super().__init__(name)
        self._detector = detector

    def filter(self, record: logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        try:
            record.msg = self._mask(record.getMessage())
            record.args = None
        except Exception:  # a broken format string: mask the parts, let logging report it
            record.msg = self._mask(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(self._mask(str(a)) for a in record.args)
            elif record.args is not None:
                record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True

    def _mask(self, text: str) -> str:
        return mask_text(text, self._detector)
