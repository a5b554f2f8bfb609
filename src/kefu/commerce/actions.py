"""The shop actions flows call (`action: cancel_order`), registered by the container.

The contract — slots read, result statuses and data — is in docs/shop.md ("Actions").
Statuses: ok, not_found, forbidden, unverified, invalid, wrong_status, out_of_stock,
insufficient_balance, not_shipped (track_order), error (back end failed or timed out).
"""

from __future__ import annotations

from kefu.commerce.base import LogisticsService, OrderService, Shop
from kefu.commerce.catalog_actions import CatalogActions
from kefu.commerce.read_actions import COURIER_NAMES, ReadActions
from kefu.commerce.write_actions import WriteActions
from kefu.dialogue.actions import Action, ActionRegistry

__all__ = ["COURIER_NAMES", "OrderActions", "ShopActions"]

READS = ("lookup_order", "track_order", "list_orders", "list_order_items")
CUSTOMER_ACTIONS = ("verify_customer", "list_payment_methods", "modify_user_address")
CATALOG_ACTIONS = ("get_product", "list_variants")
ORDER_WRITES = (
    "cancel_order",
    "modify_items",
    "modify_payment",
    "modify_address",
    "return_items",
    "exchange_items",
)
TICKET_ACTIONS = ("create_ticket",)


class ShopActions(ReadActions, CatalogActions, WriteActions):
    """Every shop action; those whose back end was not given are not registered."""

    @classmethod
    def for_shop(cls, shop: Shop, *, logistics: LogisticsService | None = None) -> ShopActions:
        """One back end for every role; `logistics` defaults to the shop's own tracking."""
        return cls(
            orders=shop,
            customers=shop,
            catalog=shop,
            tickets=shop,
            logistics=logistics if logistics is not None else shop,
        )

    def actions(self) -> dict[str, Action]:
        names = [*READS, *ORDER_WRITES]
        if self._customers is not None:
            names += CUSTOMER_ACTIONS
        if self._catalog is not None:
            names += CATALOG_ACTIONS
        if self._tickets is not None:
            names += TICKET_ACTIONS
        return {n: getattr(self, n) for n in names}

    def register(self, registry: ActionRegistry) -> None:
        for name, action in self.actions().items():
            registry.register(name, action)


class OrderActions(ShopActions):
    """The order actions alone (lookup_order, track_order, list_orders ... and the order
    writes) over an OrderService; kept for callers that only have one."""

    def __init__(self, orders: OrderService, *, logistics: LogisticsService | None = None) -> None:
        super().__init__(orders=orders, logistics=logistics)
