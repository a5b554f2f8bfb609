"""docs/connector-api.yaml is the contract the reference server and the connector speak."""

from __future__ import annotations

from pathlib import Path

import yaml

from kefu.commerce.http_server import contract_yaml

DOC = Path(__file__).parents[3] / "docs" / "connector-api.yaml"


def test_the_published_contract_is_the_served_one() -> None:
    """Regenerate with `kefu shop contract > docs/connector-api.yaml` after a change."""
    published = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    assert published == yaml.safe_load(contract_yaml())
    writes = [
        (path, method)
        for path, ops in published["paths"].items()
        for method, op in ops.items()
        if any(p["name"] == "Idempotency-Key" and p["required"] for p in op["parameters"])
    ]
    assert {m for _, m in writes} == {"post", "put"} and len(writes) == 8
