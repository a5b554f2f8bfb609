"""Idempotency keys: a retried write with the same key returns the first result."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from kefu.commerce.base import RefusalCode, ShopRefusal

MAX_KEY_CHARS = 200


def fingerprint(operation: str, request: Any) -> str:
    """A digest of the operation and its request (a dataclass), to catch a reused key."""
    is_instance = dataclasses.is_dataclass(request) and not isinstance(request, type)
    body = dataclasses.asdict(request) if is_instance else request
    text = json.dumps([operation, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_CHARS:
        raise ShopRefusal(RefusalCode.INVALID, f"idempotency key must be 1-{MAX_KEY_CHARS} chars")
    return key


def conflict(key: str) -> ShopRefusal:
    return ShopRefusal(
        RefusalCode.IDEMPOTENCY_CONFLICT,
        f"idempotency key {key!r} was used for another request",
    )
