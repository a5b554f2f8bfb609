"""Matching a customer by e-mail, name + zip, or phone (shared by every store)."""

from __future__ import annotations

import re
import unicodedata

from kefu.commerce.base import CustomerQuery
from kefu.domain.commerce import Customer

_NAME_NOISE = re.compile(r"[\s·.\-_']+")


def normalize_email(email: str) -> str:
    return email.strip().casefold()


def normalize_phone(phone: str) -> str:
    """Digits only, without a +86 / 0086 country prefix."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix) :]
    return digits


def normalize_zip(zip_code: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", zip_code)).upper()


def _norm_name(name: str) -> str:
    return _NAME_NOISE.sub("", unicodedata.normalize("NFKC", name)).casefold()


def name_matches(customer: Customer, query: CustomerQuery) -> bool:
    first, last = _norm_name(customer.first_name), _norm_name(customer.last_name)
    if query.first_name is not None or query.last_name is not None:
        return (
            _norm_name(query.first_name or "") == first
            and _norm_name(query.last_name or "") == last
        )
    full = _norm_name(query.name or "")
    return bool(full) and full in (first + last, last + first)


def query_kind(query: CustomerQuery) -> str | None:
    """Which proof the query carries: email, phone, name_zip, or None when incomplete."""
    if query.email and query.email.strip():
        return "email"
    if query.phone and normalize_phone(query.phone):
        return "phone"
    has_name = bool((query.name or "").strip()) or bool(
        (query.first_name or "").strip() and (query.last_name or "").strip()
    )
    if has_name and query.zip and normalize_zip(query.zip):
        return "name_zip"
    return None


def matches(customer: Customer, query: CustomerQuery) -> bool:
    kind = query_kind(query)
    if kind == "email":
        return normalize_email(customer.email) == normalize_email(query.email or "")
    if kind == "phone":
        return bool(customer.phone) and normalize_phone(customer.phone) == normalize_phone(
            query.phone or ""
        )
    if kind == "name_zip":
        zip_ok = customer.address is not None and normalize_zip(
            customer.address.zip
        ) == normalize_zip(query.zip or "")
        return zip_ok and name_matches(customer, query)
    return False


def only_match(candidates: list[Customer], query: CustomerQuery) -> Customer | None:
    """The single matching customer; None when none or several match (ambiguous)."""
    found = [c for c in candidates if matches(c, query)]
    return found[0] if len(found) == 1 else None
