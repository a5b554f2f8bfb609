"""A volatile order service seeded with kefu's small demo shop (written by us)."""

from __future__ import annotations

import time

from kefu.domain.commerce import Order, OrderItem, OrderStatus, Shipment, TrackingEvent

DAY = 86_400.0


class InMemoryOrderService:
    def __init__(self, orders: list[Order] | None = None, *, tenant: str = "default") -> None:
        self._orders: dict[tuple[str, str], Order] = {}
        for o in orders if orders is not None else demo_orders():
            self.add(o, tenant=tenant)

    def add(self, order: Order, *, tenant: str = "default") -> None:
        self._orders[(tenant, order.order_id)] = order

    async def get_order(self, tenant: str, order_id: str) -> Order | None:
        return self._orders.get((tenant, order_id))


def demo_orders(now: float | None = None) -> list[Order]:
    """Four orders of two demo customers, one in each common state."""
    t = time.time() if now is None else now
    tee = OrderItem(
        item_id="1001-W-M",
        product_id="1001",
        name="纯棉圆领T恤",
        options={"颜色": "白色", "尺码": "M"},
        price=79.0,
        quantity=2,
    )
    cup = OrderItem(
        item_id="2002-BLUE",
        product_id="2002",
        name="保温水杯 500ml",
        options={"颜色": "蓝色"},
        price=129.0,
    )
    shoes = OrderItem(
        item_id="3003-42", product_id="3003", name="轻便跑步鞋", options={"尺码": "42"}, price=399.0
    )
    return [
        Order(
            order_id="KF202611200001",
            user_id="u1001",
            status=OrderStatus.PENDING,
            items=(tee,),
            created_at=t - 1 * DAY,
        ),
        Order(
            order_id="KF202611180002",
            user_id="u1001",
            status=OrderStatus.PROCESSED,
            items=(cup, tee),
            created_at=t - 3 * DAY,
            shipments=(
                Shipment(
                    courier="SF",
                    tracking_number="SF1234567890123",
                    events=(
                        TrackingEvent(ts=t - 2.5 * DAY, description="快件已揽收", location="杭州"),
                        TrackingEvent(
                            ts=t - 1.2 * DAY, description="快件已到达上海转运中心", location="上海"
                        ),
                        TrackingEvent(
                            ts=t - 0.2 * DAY,
                            description="快件正在派送中，派送员：王师傅",
                            location="上海浦东",
                        ),
                    ),
                ),
            ),
        ),
        Order(
            order_id="KF202611100003",
            user_id="u1002",
            status=OrderStatus.DELIVERED,
            items=(shoes,),
            created_at=t - 12 * DAY,
            shipments=(
                Shipment(
                    courier="JD",
                    tracking_number="JDVA12345678901",
                    events=(
                        TrackingEvent(ts=t - 11 * DAY, description="已揽收", location="北京"),
                        TrackingEvent(
                            ts=t - 9 * DAY, description="已签收，签收人：本人", location="北京朝阳"
                        ),
                    ),
                ),
            ),
        ),
        Order(
            order_id="KF202611050004",
            user_id="u1002",
            status=OrderStatus.CANCELLED,
            items=(cup,),
            created_at=t - 20 * DAY,
        ),
    ]
