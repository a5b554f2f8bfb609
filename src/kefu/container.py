"""The composition root: the one place that picks concrete backends from Settings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from kefu.audit.hooks import AuditedChatModel, audit_writes
from kefu.audit.service import AuditLog, build_audit_log
from kefu.channels.hub import ConnectionHub
from kefu.commerce.actions import ORDER_WRITES, TICKET_ACTIONS, ShopActions
from kefu.commerce.base import LogisticsService, Shop, ShopAdmin
from kefu.commerce.demo import seed_demo
from kefu.commerce.http_client import HttpShop
from kefu.commerce.logistics import FallbackLogistics, Kuaidi100Logistics
from kefu.commerce.memory import InMemoryOrderService
from kefu.commerce.sql_store import SqlShopStore
from kefu.dialogue.actions import ActionRegistry, register_builtins
from kefu.dialogue.base import SessionLocks, TrackerStore
from kefu.dialogue.flow_engine import FlowEngine
from kefu.dialogue.flow_model import load_flows
from kefu.dialogue.locks import InMemorySessionLocks, RedisSessionLocks
from kefu.dialogue.manager import DialogueManager
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.dialogue.sql_store import SqlTrackerStore, make_engine
from kefu.knowledge.base import KnowledgeAnswerer
from kefu.knowledge.factory import Knowledge, build_knowledge
from kefu.llm.base import ChatModel
from kefu.llm.commands import CommandGenerator, FlowCatalog
from kefu.llm.grounded import GroundedAnswerer
from kefu.llm.stage2 import StageTwo
from kefu.nlu.base import IntentRecognizer
from kefu.nlu.clarify import IntentLabels
from kefu.nlu.factory import build_nlu, default_embedder, warm_up
from kefu.observability.metrics import Metrics
from kefu.privacy.service import PrivacyService
from kefu.safety.pii import mask_text
from kefu.safety.turn import TurnGuards
from kefu.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Services:
    """Everything the app uses, built once per app. Tests pass their own pieces."""

    settings: Settings
    store: TrackerStore
    locks: SessionLocks
    nlu: IntentRecognizer
    orders: Shop
    engine: FlowEngine
    metrics: Metrics
    manager: DialogueManager
    knowledge: KnowledgeAnswerer | None = None
    hub: ConnectionHub = field(default_factory=ConnectionHub)
    shop_admin: ShopAdmin | None = None
    llm: ChatModel | None = None
    audit: AuditLog | None = None
    guards: TurnGuards | None = None
    privacy: PrivacyService | None = None
    _started: bool = field(default=False, repr=False)

    async def start(self) -> None:
        if not self._started:
            # Load the sentence encoder now, not on the first customer's message.
            await asyncio.to_thread(warm_up, self.nlu)
            if self.guards is not None:
                await asyncio.to_thread(self.guards.warm_up)
            await self.store.start()
            if self.audit is not None:
                await self.audit.start()
            if isinstance(self.knowledge, Knowledge):
                await self.knowledge.start()
            await self.orders.start()
            if (
                self.shop_admin is not None
                and self.settings.shop.demo_if_empty
                and self.settings.env != "prod"
            ):
                await seed_demo(self.shop_admin)
            self._started = True

    async def close(self) -> None:
        if self._started:
            if isinstance(self.knowledge, Knowledge):
                await self.knowledge.close()
            await self.orders.close()
            await self.store.close()
            await self.locks.close()
            if self.audit is not None:
                await self.audit.close()
            self._started = False
        if self.llm is not None:
            await self.llm.aclose()


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


def build_shop(settings: Settings) -> Shop:
    s = settings.shop
    if s.backend == "http":
        h = s.http
        return HttpShop(
            h.base_url,
            api_key=h.api_key.get_secret_value() if h.api_key else None,
            timeout_s=h.timeout_s,
            read_attempts=h.read_attempts,
            backoff_s=h.backoff_s,
        )
    url = s.url or settings.resolved_storage_url()
    if s.backend == "memory" or url == "memory://":
        return InMemoryOrderService()
    engine = make_engine(
        url,
        echo=settings.storage.echo,
        pool_size=settings.storage.pool_size,
        schema=settings.storage.schema_name,
    )
    return SqlShopStore(engine, dispose_engine=True)


def build_logistics(settings: Settings, shop: Shop) -> LogisticsService:
    if settings.shop.logistics == "kuaidi100":
        k = settings.shop.kuaidi100
        courier = Kuaidi100Logistics(
            customer=k.customer,
            key=k.key.get_secret_value(),
            base_url=k.base_url,
            timeout_s=k.timeout_s,
            attempts=k.attempts,
        )
        return FallbackLogistics(courier, shop)
    return shop


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
    orders: Shop | None = None,
    nlu: IntentRecognizer | None = None,
    knowledge: KnowledgeAnswerer | None = None,
    extra_actions: Callable[[ActionRegistry], None] | None = None,
    chat_model: ChatModel | None = None,
    audit: AuditLog | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    settings = settings or Settings()
    metrics = Metrics()
    if knowledge is None and settings.knowledge.enabled:
        knowledge = build_knowledge(settings, metrics=metrics)
    store = store or build_store(settings)
    locks = build_locks(settings)
    nlu = nlu or build_nlu(settings)
    orders = orders or build_shop(settings)
    shop_admin = orders if isinstance(orders, SqlShopStore) else None
    actions = ActionRegistry(timeout_s=settings.action_timeout_s)
    register_builtins(actions)
    ShopActions.for_shop(orders, logistics=build_logistics(settings, orders)).register(actions)
    if extra_actions is not None:
        extra_actions(actions)
    if audit is None and settings.audit.enabled:
        audit = build_audit_log(settings, masker=mask_text, registry=metrics.registry)
    if audit is not None:
        writes = (*ORDER_WRITES, *TICKET_ACTIONS, "modify_user_address")
        audit_writes(actions, audit, writes)
    engine = FlowEngine(
        load_flows(settings.flow_paths),
        actions,
        intent_threshold=settings.nlu.intent_threshold,
        trust_user_id=settings.channels.trust_user_id,
        clock=clock,
    )
    guards = None
    if settings.safety.input_guard or settings.safety.output_guard:
        embedder = default_embedder(settings) if settings.nlu.classifier else None
        guards = TurnGuards(settings.safety, embedder=embedder, registry=metrics.registry)
    llm = chat_model or build_llm(settings, metrics)
    if llm is not None and audit is not None:
        llm = AuditedChatModel(llm, audit)
    stage2, grounded = build_llm_uses(settings, metrics, llm, engine, knowledge)
    manager = DialogueManager(
        settings=settings,
        store=store,
        locks=locks,
        nlu=nlu,
        engine=engine,
        metrics=metrics,
        knowledge=knowledge,
        stage2=stage2,
        grounded=grounded,
        guards=guards,
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
        shop_admin=shop_admin,
        llm=llm,
        audit=audit,
        guards=guards,
        privacy=PrivacyService(store, orders, audit, forget=manager.forget),
    )


def build_llm(settings: Settings, metrics: Metrics) -> ChatModel | None:
    """The model stack from settings (client, fallback, breaker, limit, metrics), or None."""
    if not settings.llm.enabled:
        return None
    from kefu.llm.factory import build_chat_model
    from kefu.llm.metrics import LlmMetrics

    return build_chat_model(settings.llm, LlmMetrics(metrics.registry))


def build_llm_uses(
    settings: Settings,
    metrics: Metrics,
    llm: ChatModel | None,
    engine: FlowEngine,
    knowledge: KnowledgeAnswerer | None,
) -> tuple[StageTwo | None, GroundedAnswerer | None]:
    """What the model is used for: stage-2 commands and grounded knowledge answers."""
    if llm is None:
        return None, None
    s = settings.llm
    stage2 = None
    if s.stage2:
        generator = CommandGenerator(
            llm,
            FlowCatalog(engine.flows, IntentLabels.default()),
            timeout_s=s.stage2_timeout_s,
            max_tokens=s.sampling.command_max_tokens,
            temperature=s.sampling.command_temperature,
        )
        stage2 = StageTwo(
            generator,
            timeout_s=s.stage2_timeout_s,
            history_turns=settings.session.llm_history_turns,
            metrics=metrics,
        )
    grounded = None
    if s.answers and isinstance(knowledge, Knowledge):
        grounded = GroundedAnswerer(
            llm,
            knowledge.answerer,
            timeout_s=s.timeout_s,
            max_tokens=s.sampling.max_tokens,
            on_outcome=lambda outcome: metrics.grounded.labels(outcome=outcome).inc(),
        )
    return stage2, grounded
