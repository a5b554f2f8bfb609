"""The privacy admin API under /v1/admin/privacy: a customer's data-subject requests.

`GET /customers/{customer_id}` exports everything kefu holds on the customer (JSON);
`DELETE /customers/{customer_id}` erases it and returns what was erased and what was not.
Only the `admin` role; the tenant is the admin key's. What it needs from `Services`:
`services.settings` (the admin keys, read by `require_role`) and `services.privacy`, a
`kefu.privacy.service.PrivacyService` over the app's store, shop and audit log, built with
`forget=services.manager.forget` so an erased session leaves the manager's cache (503
`privacy_unavailable` without one). Mount with `app.include_router(router)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from kefu.api.deps import ServicesDep, Staff, require_role
from kefu.dialogue.base import StoreError
from kefu.dialogue.manager import ChatError
from kefu.domain.types import JsonValue
from kefu.privacy.service import ErasureReport, PrivacyService

router = APIRouter(prefix="/v1/admin/privacy", tags=["privacy"])

Admin = Annotated[Staff, Depends(require_role("admin"))]
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]


def get_privacy(services: ServicesDep) -> PrivacyService:
    privacy = getattr(services, "privacy", None)
    if not isinstance(privacy, PrivacyService):
        raise ChatError("privacy_unavailable", "data-subject requests are not set up", 503)
    return privacy


PrivacyDep = Annotated[PrivacyService, Depends(get_privacy)]


class OmissionOut(BaseModel):
    what: str
    reason: str


class ErasureOut(BaseModel):
    tenant: str
    customer_id: str
    erased_at: str
    sessions_erased: int
    tickets_anonymised: int
    audit_records_erased: int
    not_erased: list[OmissionOut]

    @classmethod
    def of(cls, r: ErasureReport) -> ErasureOut:
        return cls(
            tenant=r.tenant,
            customer_id=r.customer_id,
            erased_at=r.erased_at,
            sessions_erased=r.sessions_erased,
            tickets_anonymised=r.tickets_anonymised,
            audit_records_erased=r.audit_records_erased,
            not_erased=[OmissionOut(what=o.what, reason=o.reason) for o in r.not_erased],
        )


def _actor(staff: Staff) -> str:
    return f"staff:{staff.name or staff.role}"


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ValueError as exc:
        raise ChatError("invalid_request", str(exc), 422) from exc
    except StoreError as exc:
        raise ChatError("store_unavailable", "the conversation store failed", 503) from exc


@router.get("/customers/{customer_id}")
async def export_customer(
    customer_id: CustomerId, staff: Admin, privacy: PrivacyDep
) -> dict[str, JsonValue]:
    """The customer's profile, sessions (every event), tickets and audit records, and what
    is not included and why. The export is itself audited."""
    with _errors():
        return await privacy.export(staff.tenant, customer_id, actor=_actor(staff))


@router.delete("/customers/{customer_id}", response_model=ErasureOut)
async def erase_customer(customer_id: CustomerId, staff: Admin, privacy: PrivacyDep) -> ErasureOut:
    """Delete the customer's sessions, anonymise their tickets and erase their audit
    payloads; a repeat finds nothing and succeeds. Orders and the customer record stay
    with the shop (see `not_erased`)."""
    with _errors():
        report = await privacy.erase(staff.tenant, customer_id, actor=_actor(staff))
    return ErasureOut.of(report)
