"""Export and erase everything kefu holds on one customer of one tenant (shop).

What kefu holds on a customer:

* sessions: those the customer was logged in to (`SessionRecord.user_id`) and those where
  they were verified in the chat (a `verified_user_id` slot), with all their events;
* tickets, in the shop back end (`TicketService`);
* audit records whose subject is the customer;
* their profile in the shop (`CustomerDirectory`): exported, never erased.

Erasure deletes the sessions, anonymises the tickets (content gone, statistics kept) and
erases the audit payloads (their hashes stay, so the chains still verify). Orders and the
customer record are the shop's system of record (tax, accounting): kefu neither erases nor
exports orders; every report says so. A repeated erasure finds nothing and succeeds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kefu.audit.model import ERASE_KIND, AuditFilter, AuditRecord
from kefu.audit.service import AuditLog
from kefu.commerce.base import ConnectorError, Shop
from kefu.commerce.wire import CustomerModel, TicketModel
from kefu.dialogue.base import TrackerStore
from kefu.domain.types import JsonValue, SessionId, TenantId

log = logging.getLogger(__name__)

AUDIT_PAGE = 500
MAX_ID_CHARS = 200  # the audit log's limit for a subject


@dataclass(frozen=True, slots=True, kw_only=True)
class Omission:
    """Something kefu did not export or erase, and why."""

    what: str
    reason: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"what": self.what, "reason": self.reason}


SHOP_RECORDS = Omission(
    what="orders and the customer record",
    reason="the shop's system of record (tax, accounting): kept by the shop, not erased by "
    "kefu; the profile is exported, the orders are the shop's to provide",
)
OUTSIDE = Omission(
    what="server logs and database backups",
    reason="not kept per customer: they expire with the operator's log and backup retention",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasureReport:
    tenant: str
    customer_id: str
    erased_at: str  # ISO 8601, UTC
    sessions_erased: int
    tickets_anonymised: int
    audit_records_erased: int
    not_erased: tuple[Omission, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "tenant": self.tenant,
            "customer_id": self.customer_id,
            "erased_at": self.erased_at,
            "sessions_erased": self.sessions_erased,
            "tickets_anonymised": self.tickets_anonymised,
            "audit_records_erased": self.audit_records_erased,
            "not_erased": [o.to_json() for o in self.not_erased],
        }


class PrivacyService:
    """Export and erasure over the app's tracker store, shop and audit log (either of the
    last two may be absent). `forget(tenant, session_id)` drops a cached session after it
    was erased (the dialogue manager's `forget`)."""

    def __init__(
        self,
        store: TrackerStore,
        shop: Shop | None,
        audit: AuditLog | None,
        *,
        forget: Callable[[TenantId, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._shop = shop
        self._audit = audit
        self._forget = forget
        self._clock = clock

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat().replace("+00:00", "Z")

    async def export(
        self, tenant: str, customer_id: str, *, actor: str = "system"
    ) -> dict[str, JsonValue]:
        """Everything kefu holds on the customer as JSON; the export itself is audited."""
        check_ids(tenant, customer_id)
        omitted = [SHOP_RECORDS, OUTSIDE]
        sessions: list[JsonValue] = [
            await self._session(TenantId(tenant), sid)
            for sid in await self._store.customer_sessions(TenantId(tenant), customer_id)
        ]
        profile, tickets = await self._shop_data(tenant, customer_id, omitted)
        audit = await self._audit_records(tenant, customer_id, omitted)
        if self._audit is not None:
            counts = {"sessions": len(sessions), "tickets": len(tickets), "audit": len(audit)}
            await self._audit.record(
                "admin.action",
                tenant=tenant,
                actor=actor,
                subject=customer_id,
                payload={"action": "privacy.export", **counts},
            )
        return {
            "customer_id": customer_id,
            "tenant": tenant,
            "exported_at": self._now(),
            "profile": profile,
            "sessions": sessions,
            "tickets": tickets,
            "audit": audit,
            "not_included": [o.to_json() for o in omitted],
        }

    async def _session(self, tenant: TenantId, sid: SessionId) -> JsonValue:
        rec = await self._store.get_session(tenant, sid)
        events: list[JsonValue] = [
            {"type": e.type_name, "ts": e.ts, "data": e.to_data()}
            for e in await self._store.load(tenant, sid)
        ]
        return {
            "session_id": sid,
            "channel": rec.channel if rec else None,
            "user_id": rec.user_id if rec else None,
            "created_at": rec.created_at if rec else None,
            "last_active": rec.last_active if rec else None,
            "events": events,
        }

    async def _shop_data(
        self, tenant: str, customer_id: str, omitted: list[Omission]
    ) -> tuple[JsonValue, list[JsonValue]]:
        if self._shop is None:
            omitted.append(Omission(what="profile and tickets", reason="no shop is configured"))
            return None, []
        try:
            customer = await self._shop.get_customer(tenant, customer_id)
            found = await self._shop.list_tickets(tenant, customer_id)
        except ConnectorError as exc:
            reason = f"the shop's back end failed: {exc}"
            omitted.append(Omission(what="profile and tickets", reason=reason))
            return None, []
        profile = CustomerModel.of(customer).model_dump(mode="json") if customer else None
        return profile, [TicketModel.read(k).model_dump(mode="json") for k in found]

    async def _audit_records(
        self, tenant: str, customer_id: str, omitted: list[Omission]
    ) -> list[JsonValue]:
        if self._audit is None:
            omitted.append(Omission(what="audit records", reason="no audit log is configured"))
            return []
        flt = AuditFilter(subject=customer_id)
        records: list[AuditRecord] = []
        before: int | None = None
        while True:
            page = await self._audit.query(tenant, flt, before_seq=before, limit=AUDIT_PAGE)
            records.extend(page)
            if len(page) < AUDIT_PAGE:
                break
            before = page[-1].seq
        return [r.to_json() for r in reversed(records)]  # oldest first

    async def erase(self, tenant: str, customer_id: str, *, actor: str) -> ErasureReport:
        """Delete the customer's sessions, anonymise their tickets, erase their audit
        payloads; what could not be erased is listed in the report."""
        check_ids(tenant, customer_id)
        omitted = [SHOP_RECORDS, OUTSIDE]
        sessions = 0
        for sid in await self._store.customer_sessions(TenantId(tenant), customer_id):
            sessions += int(await self._store.erase_session(TenantId(tenant), sid))
            if self._forget is not None:
                self._forget(TenantId(tenant), sid)
        tickets = await self._anonymise(tenant, customer_id, omitted)
        audit = 0
        if self._audit is None:
            omitted.append(Omission(what="audit records", reason="no audit log is configured"))
        else:
            audit = await self._audit.erase_subject(customer_id, tenant=tenant, actor=actor)
            if audit == 0:  # erase_subject records the erasure only when it erased some
                payload = {"erased_seqs": [], "sessions": sessions, "tickets": tickets}
                await self._audit.record(
                    ERASE_KIND, tenant=tenant, actor=actor, subject=customer_id, payload=payload
                )
        log.info(
            "privacy.erased tenant=%s sessions=%d tickets=%d audit=%d",
            tenant, sessions, tickets, audit,
        )  # fmt: skip
        return ErasureReport(
            tenant=tenant,
            customer_id=customer_id,
            erased_at=self._now(),
            sessions_erased=sessions,
            tickets_anonymised=tickets,
            audit_records_erased=audit,
            not_erased=tuple(omitted),
        )

    async def _anonymise(self, tenant: str, customer_id: str, omitted: list[Omission]) -> int:
        if self._shop is None:
            omitted.append(Omission(what="tickets", reason="no shop is configured"))
            return 0
        try:
            return await self._shop.anonymise_tickets(tenant, customer_id)
        except (ConnectorError, NotImplementedError) as exc:
            log.warning("privacy.tickets_not_erased tenant=%s error=%s", tenant, exc)
            reason = f"managed by the shop's back end, which did not anonymise them: {exc}"
            omitted.append(Omission(what="tickets", reason=reason))
            return 0


def check_ids(tenant: str, customer_id: str) -> None:
    """Raise ValueError unless both ids are usable."""
    if not tenant:
        raise ValueError("a tenant is required")
    if not customer_id.strip() or len(customer_id) > MAX_ID_CHARS:
        raise ValueError(f"a customer id has 1..{MAX_ID_CHARS} characters")
