"""Tables of the built-in shop store (prefix kefu_shop_); every row carries its tenant.

Money is stored in integer cents; options, addresses and id lists as JSON text; `position`
keeps the order a shop was imported in, so an export writes it back the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

Cents = sa.BigInteger
Json = sa.Text


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(64), primary_key=True)


customers = sa.Table(
    "kefu_shop_customers",
    metadata,
    _tenant(),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("first_name", sa.String(200), nullable=False),
    sa.Column("last_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_norm", sa.String(320), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("phone_norm", sa.String(32), nullable=False),
    sa.Column("zip_norm", sa.String(32), nullable=False),
    sa.Column("address", Json, nullable=True),
    sa.Column("created_at", sa.Float, nullable=True),
    sa.Index("ix_kefu_shop_customers_email", "tenant", "email_norm"),
    sa.Index("ix_kefu_shop_customers_phone", "tenant", "phone_norm"),
    sa.Index("ix_kefu_shop_customers_zip", "tenant", "zip_norm"),
)

payment_methods = sa.Table(
    "kefu_shop_payment_methods",
    metadata,
    _tenant(),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("payment_method_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("brand", sa.String(64), nullable=True),
    sa.Column("last_four", sa.String(8), nullable=True),
    sa.Column("balance_cents", Cents, nullable=True),
)

products = sa.Table(
    "kefu_shop_products",
    metadata,
    _tenant(),
    sa.Column("product_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
)

variants = sa.Table(
    "kefu_shop_variants",
    metadata,
    _tenant(),
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("product_id", sa.String(128), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("options", Json, nullable=False),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("price_cents", Cents, nullable=False),
    sa.Column("stock", sa.Integer, nullable=True),
    sa.Index("ix_kefu_shop_variants_product", "tenant", "product_id"),
)

orders = sa.Table(
    "kefu_shop_orders",
    metadata,
    _tenant(),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", sa.Float, nullable=True),
    sa.Column("address", Json, nullable=True),
    sa.Column("cancel_reason", sa.String(200), nullable=True),
    # Bumped by every write: a write that read an older version retries.
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_kefu_shop_orders_user", "tenant", "user_id"),
)

order_items = sa.Table(
    "kefu_shop_order_items",
    metadata,
    _tenant(),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("product_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("options", Json, nullable=False),
    sa.Column("price_cents", Cents, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)

fulfilments = sa.Table(
    "kefu_shop_fulfilments",
    metadata,
    _tenant(),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("courier", sa.String(32), nullable=False),
    sa.Column("tracking_number", sa.String(128), nullable=False),
    sa.Column("item_ids", Json, nullable=False),
    sa.Index("ix_kefu_shop_fulfilments_tracking", "tenant", "tracking_number"),
)

tracking_events = sa.Table(
    "kefu_shop_tracking_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("tracking_number", sa.String(128), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("location", sa.String(200), nullable=False),
    sa.Index("ix_kefu_shop_tracking_events_number", "tenant", "tracking_number", "ts"),
)

payments = sa.Table(
    "kefu_shop_payments",
    metadata,
    _tenant(),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("transaction_type", sa.String(16), nullable=False),
    sa.Column("amount_cents", Cents, nullable=False),
    sa.Column("payment_method_id", sa.String(128), nullable=False),
)

# Returns and exchanges: at most one of each kind per order.
after_sales = sa.Table(
    "kefu_shop_returns",
    metadata,
    _tenant(),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # return | exchange
    sa.Column("item_ids", Json, nullable=False),
    sa.Column("new_item_ids", Json, nullable=True),
    sa.Column("payment_method_id", sa.String(128), nullable=False),
    sa.Column("price_difference_cents", Cents, nullable=True),
)

tickets = sa.Table(
    "kefu_shop_tickets",
    metadata,
    _tenant(),
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("order_id", sa.String(128), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_kefu_shop_tickets_user", "tenant", "user_id"),
)

idempotency = sa.Table(
    "kefu_shop_idempotency",
    metadata,
    _tenant(),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Deleted in this order when a tenant's shop is replaced (children first).
TENANT_TABLES = (
    idempotency,
    tickets,
    after_sales,
    payments,
    tracking_events,
    fulfilments,
    order_items,
    orders,
    variants,
    products,
    payment_methods,
    customers,
)
