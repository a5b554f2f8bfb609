"""The composition root: the one place that picks concrete backends from Settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from kefu.channels.hub import ConnectionHub
from kefu.commerce.actions import OrderActions
from kefu.commerce.base import OrderService
from kefu.commerce.memory import InMemoryOrderService
from kefu.dialogue.actions import ActionRegistry, register_builtins
from kefu.dialogue.base import SessionLocks, TrackerStore
from kefu.dialogue.flow_engine import FlowEngine
from kefu.dialogue.flow_model import load_flows
from kefu.dialogue.locks import InMemorySessionLocks, RedisSessionLocks
from kefu.dialogue.manager import DialogueManager
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.dialogue.sql_store import SqlTrackerStore, make_engine
from kefu.knowledge.base import KnowledgeAnswerer
from kefu.nlu.base import IntentRecognizer
from kefu.nlu.entities import RegexEntityExtractor
from kefu.nlu.pipeline import StageOneNlu
from kefu.nlu.rules import RuleSet
from kefu.observability.metrics import Metrics
from kefu.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Services:
    """Everything the app uses, built once per app. Tests pass their own pieces."""

    settings: Settings
    store: TrackerStore
    locks: SessionLocks
    nlu: IntentRecognizer
    orders: OrderService
    engine: FlowEngine
    metrics: Metrics
    manager: DialogueManager
    knowledge: KnowledgeAnswerer | None = None
    hub: ConnectionHub = field(default_factory=ConnectionHub)
    _started: bool = field(default=False, repr=False)

    async def start(self) -> None:
        if not self._started:
            await self.store.start()
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self.store.close()
            await self.locks.close()
            self._started = False


def build_store(settings: Settings) -> TrackerStore:
    url = settings.resolved_storage_url()
    if url == "memory://":
        return InMemoryTrackerStore()
    engine = make_engine(
        url,
        echo=settings.storage.echo,
        pool_size=settings.storage.pool_size,
        schema=settings.storage.schema_name,
    )
    return SqlTrackerStore(engine, group_commit_ms=settings.storage.group_commit_ms)


def build_locks(settings: Settings) -> SessionLocks:
    if settings.redis.url:
        client = Redis.from_url(
            settings.redis.url,
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.socket_timeout_s,
        )
        return RedisSessionLocks(client, timeout_s=settings.redis.lock_timeout_s)
    return InMemorySessionLocks()


def build_services(
    settings: Settings | None = None,
    *,
    store: TrackerStore | None = None,
    orders: OrderService | None = None,
    nlu: IntentRecognizer | None = None,
    knowledge: KnowledgeAnswerer | None = None,
    extra_actions: Callable[[ActionRegistry], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    settings = settings or Settings()
    metrics = Metrics()
    store = store or build_store(settings)
    locks = build_locks(settings)
    nlu = nlu or StageOneNlu(
        rules=RuleSet.default(),
        extractor=RegexEntityExtractor(order_patterns=settings.nlu.order_patterns),
    )
    orders = orders or InMemoryOrderService()
    actions = ActionRegistry(timeout_s=settings.action_timeout_s)
    register_builtins(actions)
    OrderActions(orders).register(actions)
    if extra_actions is not None:
        extra_actions(actions)
    engine = FlowEngine(
        load_flows(settings.flow_paths),
        actions,
        intent_threshold=settings.nlu.intent_threshold,
        trust_user_id=settings.channels.trust_user_id,
        clock=clock,
    )
    manager = DialogueManager(
        settings=settings,
        store=store,
        locks=locks,
        nlu=nlu,
        engine=engine,
        metrics=metrics,
        knowledge=knowledge,
        clock=clock,
    )
    return Services(
        settings=settings,
        store=store,
        locks=locks,
        nlu=nlu,
        orders=orders,
        engine=engine,
        metrics=metrics,
        manager=manager,
        knowledge=knowledge,
    )
