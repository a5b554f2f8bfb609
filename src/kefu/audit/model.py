"""Audit records, their hash chain, and the chain checker.

One hash chain per tenant: a tenant's records are numbered `seq` = 1, 2, 3 ... with no
gaps, and each record carries the hash of the one before it (`prev_hash`; for seq 1 it is
`GENESIS_HASH`, 64 zeros). An auditor recomputes everything from an export (one JSON object
per line) with the standard library alone:

    canonical(x)   = json.dumps(x, sort_keys=True, separators=(",", ":"),
                                ensure_ascii=False, allow_nan=False).encode("utf-8")
    payload_sha256 = sha256(canonical(payload)).hexdigest()
    hash           = sha256(canonical({
                         "tenant": tenant, "seq": seq, "ts": ts, "kind": kind,
                         "actor": actor, "subject": subject,       # subject may be null
                         "payload_sha256": payload_sha256, "prev_hash": prev_hash,
                     })).hexdigest()

`ts` is the UTC time as text, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, always six
digits). The hash covers the payload only through `payload_sha256`, so a payload can be
erased (replaced by `{"erased":true,"payload_sha256":"<the same digest>"}`) without
breaking the chain; every erasure is itself recorded by a later `privacy.erase` record of
the same chain whose payload lists the erased seqs (`{"erased_seqs":[...]}`), and
verification fails on an erased payload no such record covers.

Retention purges a chain's oldest records and keeps a checkpoint, the seq and hash of the
last purged record: verification starts from it (the first remaining record must have
seq = checkpoint seq + 1 and prev_hash = checkpoint hash). The chain's head (the seq and
hash of its newest record) is stored too, so deleting the newest records is detected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from kefu.domain.types import JsonValue

GENESIS_HASH = "0" * 64
ERASE_KIND = "privacy.erase"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def canonical_json(value: object) -> str:
    """The canonical JSON text the hashes are computed over (see the module docstring)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_us(when: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def format_ts(us: int) -> str:
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def erased_payload(payload_sha256: str) -> str:
    """The stored payload of an erased record (canonical JSON)."""
    return canonical_json({"erased": True, "payload_sha256": payload_sha256})


def record_hash(
    *,
    tenant: str,
    seq: int,
    ts_us: int,
    kind: str,
    actor: str,
    subject: str | None,
    payload_sha256: str,
    prev_hash: str,
) -> str:
    return sha256_hex(
        canonical_json(
            {
                "tenant": tenant,
                "seq": seq,
                "ts": format_ts(ts_us),
                "kind": kind,
                "actor": actor,
                "subject": subject,
                "payload_sha256": payload_sha256,
                "prev_hash": prev_hash,
            }
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEntry:
    """A record before the store numbers and chains it (payload already masked)."""

    tenant: str
    ts_us: int
    kind: str
    actor: str
    subject: str | None
    payload_json: str
    payload_sha256: str


def make_entry(
    kind: str, *, tenant: str, actor: str, subject: str | None, payload: object, ts_us: int
) -> NewEntry:
    """`payload` must be JSON-safe already (str keys, no NaN)."""
    text = canonical_json(payload)
    return NewEntry(
        tenant=tenant,
        ts_us=ts_us,
        kind=kind,
        actor=actor,
        subject=subject,
        payload_json=text,
        payload_sha256=sha256_hex(text),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    tenant: str
    seq: int
    ts_us: int
    kind: str
    actor: str
    subject: str | None
    payload_json: str  # canonical JSON as stored
    payload_sha256: str
    prev_hash: str
    hash: str

    @property
    def ts(self) -> datetime:
        return from_us(self.ts_us)

    @property
    def payload(self) -> dict[str, JsonValue]:
        return cast(dict[str, JsonValue], json.loads(self.payload_json))

    def computed_hash(self) -> str:
        return record_hash(
            tenant=self.tenant,
            seq=self.seq,
            ts_us=self.ts_us,
            kind=self.kind,
            actor=self.actor,
            subject=self.subject,
            payload_sha256=self.payload_sha256,
            prev_hash=self.prev_hash,
        )

    def to_json(self) -> dict[str, JsonValue]:
        """The record as exported (one JSON line each)."""
        return {
            "tenant": self.tenant,
            "seq": self.seq,
            "ts": format_ts(self.ts_us),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload": self.payload,
            "payload_sha256": self.payload_sha256,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainHead:
    """A chain's newest record (head) and its retention checkpoint (base)."""

    tenant: str
    head_seq: int
    head_hash: str
    base_seq: int
    base_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    kind: str | None = None
    subject: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    tenant: str | None = None


@dataclass(slots=True)
class ChainChecker:
    """Walks one chain's records in seq order from a checkpoint; stops at the first fault."""

    tenant: str
    next_seq: int
    prev_hash: str
    checked: int = 0
    fault: tuple[int, str] | None = None
    uncovered: set[int] = field(default_factory=set)  # erased seqs with no privacy.erase

    @classmethod
    def from_base(cls, head: ChainHead) -> ChainChecker:
        return cls(head.tenant, head.base_seq + 1, head.base_hash)

    def feed(self, rec: AuditRecord) -> bool:
        """Check the next record; False (and `fault` set) when the chain is broken here."""
        if rec.seq != self.next_seq:
            return self._fail(self.next_seq, f"record {self.next_seq} is missing")
        if rec.prev_hash != self.prev_hash:
            return self._fail(rec.seq, "prev_hash does not match the previous record's hash")
        erased = False
        if sha256_hex(rec.payload_json) != rec.payload_sha256:
            if rec.payload_json != erased_payload(rec.payload_sha256):
                return self._fail(rec.seq, "payload does not match payload_sha256")
            erased = True
        if rec.computed_hash() != rec.hash:
            return self._fail(rec.seq, "hash does not match the record")
        if erased:
            self.uncovered.add(rec.seq)
        elif rec.kind == ERASE_KIND:
            self.uncovered.difference_update(_erased_seqs(rec.payload))
        self.prev_hash = rec.hash
        self.next_seq += 1
        self.checked += 1
        return True

    def finish(self, head: ChainHead | None, *, erasures: bool = True) -> VerifyResult:
        """The verdict once every record up to `head` was fed (None: don't check the head;
        `erasures`: require a privacy.erase record for every erased payload)."""
        if self.fault is None and head is not None:
            last = self.next_seq - 1
            if last < head.head_seq:
                self._fail(self.next_seq, f"records {self.next_seq}..{head.head_seq} are missing")
            elif self.prev_hash != head.head_hash:
                self._fail(last, "the chain head does not match the newest record")
        bad = [self.fault[0]] if self.fault else []
        reason = self.fault[1] if self.fault else None
        if erasures and self.uncovered and min(self.uncovered) < min(bad, default=1 << 62):
            bad, reason = [min(self.uncovered)], "payload erased without a privacy.erase record"
        if not bad:
            return VerifyResult(ok=True, checked=self.checked, tenant=self.tenant)
        return VerifyResult(
            ok=False, checked=self.checked, first_bad_seq=bad[0], reason=reason, tenant=self.tenant
        )

    def _fail(self, seq: int, reason: str) -> bool:
        self.fault = (seq, reason)
        return False


def _erased_seqs(payload: Mapping[str, object]) -> list[int]:
    seqs = payload.get("erased_seqs")
    if not isinstance(seqs, list):
        return []
    return [s for s in seqs if isinstance(s, int)]
