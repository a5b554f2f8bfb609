"""Request dependencies: the app's services and the caller's tenant."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from kefu.container import Services
from kefu.dialogue.manager import ChatError
from kefu.domain.types import DEFAULT_TENANT, TenantId
from kefu.settings import Settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def tenant_for_key(settings: Settings, key: str | None) -> TenantId:
    """Map a channel key to its tenant; with no keys configured everyone is `default`."""
    if not settings.channels.keys:
        return DEFAULT_TENANT
    if key:
        for k in settings.channels.keys:
            if hmac.compare_digest(k.key.get_secret_value(), key):
                return TenantId(k.tenant)
    raise ChatError("unauthorized", "a valid channel key (X-Kefu-Key) is required", 401)


def get_tenant(
    services: ServicesDep, x_kefu_key: Annotated[str | None, Header()] = None
) -> TenantId:
    return tenant_for_key(services.settings, x_kefu_key)


TenantDep = Annotated[TenantId, Depends(get_tenant)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Staff:
    """The authenticated caller of an admin route."""

    role: str
    tenant: TenantId
    name: str


def staff_for_key(settings: Settings, authorization: str | None) -> Staff:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token:
        for k in settings.admin.keys:
            if hmac.compare_digest(k.key.get_secret_value(), token):
                return Staff(role=k.role, tenant=TenantId(k.tenant), name=k.name)
    raise ChatError("unauthorized", "an admin API key is required (Authorization: Bearer)", 401)


class RoleGuard:
    """The one admin dependency: admits staff whose role is in `roles` (least privilege
    per route). `tests/unit/api/test_rbac.py` finds it on every admin route and checks
    every role against it."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = frozenset(roles)

    def __call__(
        self,
        request: Request,
        services: ServicesDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Staff:
        staff = staff_for_key(services.settings, authorization)
        request.state.staff = staff  # for the admin audit record of this call
        if staff.role not in self.roles:
            raise ChatError("forbidden", f"role {staff.role!r} may not use this route", 403)
        return staff


def require_role(*roles: str) -> RoleGuard:
    """A dependency admitting staff whose role is one of `roles`."""
    return RoleGuard(roles)
