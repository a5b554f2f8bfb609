"""Protocols of the commerce layer."""

from __future__ import annotations

from typing import Protocol

from kefu.domain.commerce import Order


class ConnectorError(Exception):
    """A back end failed or answered garbage; flows turn it into a clear message."""


class OrderService(Protocol):
    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        """The order, or None when the shop has no such order."""
        ...
