"""Every admin route × every role: one `RoleGuard` on each route, 401 without a key, 403
for each role the route does not admit, and through for each role it does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.api.deps import RoleGuard
from kefu.container import build_services
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.settings import Settings
from kefu.testing.fakes import FakeOrderService

ROLES = ("admin", "agent", "analyst", "auditor")
# Least privilege, as designed: who may reach which admin area. A new admin route must be
# added here, so a reviewer sees its roles.
EXPECTED = {
    "/v1/admin/kb": {"read": {"admin", "agent", "analyst"}, "write": {"admin"}},
    "/v1/admin/audit": {"read": {"admin", "auditor"}, "write": {"admin", "auditor"}},
    "/v1/admin/privacy": {"read": {"admin"}, "write": {"admin"}},
}


def guards(dependant: Dependant) -> list[RoleGuard]:
    found = [dependant.call] if isinstance(dependant.call, RoleGuard) else []
    for sub in dependant.dependencies:
        found += guards(sub)
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("rbac")
    settings = Settings(
        env="test",
        data_dir=tmp,
        knowledge={"enabled": False},
        admin={"keys": [{"key": f"k-{r}", "role": r, "name": r} for r in ROLES]},
        _env_file=None,
    )
    services = build_services(settings, store=InMemoryTrackerStore(), orders=FakeOrderService())
    with TestClient(create_app(services=services)) as c:
        yield c


def flat(routes: list[object]) -> Iterator[object]:
    """Routes, with those of included routers (FastAPI keeps them apart) in place."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        yield from flat(inner.routes) if inner is not None else (r,)


def admin_routes(client: TestClient) -> list[tuple[str, str, RoleGuard]]:
    out = []
    for route in flat(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path.startswith("/v1/admin"):
            found = guards(route.dependant)
            assert len(found) == 1, f"{route.path} must have exactly one RoleGuard: {found}"
            for method in sorted(route.methods):
                out.append((method, route.path, found[0]))
    return out


def test_every_admin_route_is_guarded_with_the_designed_roles(client: TestClient) -> None:
    routes = admin_routes(client)
    assert len(routes) >= 8
    for method, path, guard in routes:
        area = next((a for a in EXPECTED if path.startswith(a)), None)
        assert area is not None, f"{method} {path}: add its area to EXPECTED"
        kind = "read" if method == "GET" else "write"
        assert guard.roles == EXPECTED[area][kind], f"{method} {path}: {sorted(guard.roles)}"


def test_every_route_times_every_role(client: TestClient) -> None:
    checked = 0
    for method, path, guard in admin_routes(client):
        url = re.sub(r"\{[^}]+\}", "x", path)
        r = client.request(method, url, json={})
        assert r.status_code == 401, f"{method} {url} without a key: {r.status_code}"
        for role in ROLES:
            r = client.request(method, url, json={}, headers={"Authorization": f"Bearer k-{role}"})
            if role in guard.roles:
                assert r.status_code not in (401, 403), f"{role} {method} {url}: {r.text}"
            else:
                assert r.status_code == 403, f"{role} {method} {url}: {r.status_code}"
                assert r.json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked >= 32
