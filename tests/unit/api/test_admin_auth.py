"""The admin-route guard: keys map to one role and tenant; roles are checked per route."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.api.deps import Staff, require_role
from kefu.settings import Settings


@pytest.fixture
def app(tmp_path: object) -> FastAPI:
    settings = Settings(
        env="test",
        data_dir=str(tmp_path),
        _env_file=None,
        admin={
            "keys": [
                {"key": "k-admin", "role": "admin", "tenant": "shop_a"},
                {"key": "k-agent", "role": "agent"},
            ]
        },
    )
    app = create_app(settings)

    @app.get("/v1/admin/probe")
    async def probe(staff: Annotated[Staff, Depends(require_role("admin"))]) -> dict[str, str]:
        return {"role": staff.role, "tenant": staff.tenant}

    return app


def test_admin_key_admits_its_role_only(app: FastAPI) -> None:
    with TestClient(app) as c:
        r = c.get("/v1/admin/probe", headers={"Authorization": "Bearer k-admin"})
        assert r.json() == {"role": "admin", "tenant": "shop_a"}
        r = c.get("/v1/admin/probe", headers={"Authorization": "Bearer k-agent"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        r = c.get("/v1/admin/probe", headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
        assert c.get("/v1/admin/probe").status_code == 401


def test_placeholder_keys_are_refused_in_prod() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(env="prod", _env_file=None, admin={"keys": [{"key": "changeme", "role": "admin"}]})
