"""Export and erasure of a customer's data over the real stores: a channel-login session
(with a cancelled order, so an audited shop write), a session verified in the chat, tickets;
another customer's data stays; the audit chain still verifies; a repeat finds nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kefu.audit.model import ERASE_KIND, AuditFilter
from kefu.audit.service import AuditLog
from kefu.commerce.base import ERASED, NewTicket
from kefu.commerce.http_client import HttpShop
from kefu.container import Services, build_services
from kefu.dialogue.manager import ChatError, ChatRequest
from kefu.dialogue.memory_store import InMemoryTrackerStore
from kefu.domain.commerce import Ticket
from kefu.domain.events import SessionStarted, SlotSet
from kefu.domain.types import DEFAULT_TENANT, SessionId, TenantId
from kefu.privacy.service import PrivacyService
from kefu.settings import Settings
from kefu.testing.conformance import new_session

T = DEFAULT_TENANT
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@dataclass
class World:
    services: Services
    audit: AuditLog
    privacy: PrivacyService
    logged_in: str  # u1001's channel-login session, where an order was cancelled
    verified: str  # an anonymous session where u1001 verified by e-mail
    other: str  # u1002's session
    ticket: Ticket  # u1001's
    other_ticket: Ticket  # u1002's


async def _chat(services: Services, texts: list[str], user_id: str | None = None) -> str:
    sid = None
    for text in texts:
        req = ChatRequest(tenant=T, text=text, session_id=sid, user_id=user_id)
        sid = (await services.manager.handle(req)).session_id
    assert sid is not None
    return sid


async def _ticket(services: Services, user_id: str, key: str) -> Ticket:
    req = NewTicket(category="complaint", subject="包裹破损", body="电话 13800138001",
                    user_id=user_id, verified=True, order_id="KF202611200001")  # fmt: skip
    return await services.orders.create_ticket(T, req, idempotency_key=key)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        knowledge={"enabled": False},
        channels={"trust_user_id": True},
        _env_file=None,
    )
    services = build_services(settings)
    await services.start()
    assert services.audit is not None
    cancel = ["我要取消订单", "KF202611200001", "不想要了", "确认"]
    logged_in = await _chat(services, cancel, user_id="u1001")
    verified = await _chat(services, ["我要取消订单", "u1001@example.cn"])
    other = await _chat(services, ["你好"], user_id="u1002")
    await services.audit.record(
        "shop.write", tenant=T, actor="system", subject="u1002", payload={"x": 1}
    )
    privacy = PrivacyService(
        services.store, services.orders, services.audit,
        forget=services.manager.forget, clock=lambda: NOW,
    )  # fmt: skip
    yield World(
        services=services,
        audit=services.audit,
        privacy=privacy,
        logged_in=logged_in,
        verified=verified,
        other=other,
        ticket=await _ticket(services, "u1001", "k1"),
        other_ticket=await _ticket(services, "u1002", "k2"),
    )
    await services.close()


async def test_export_holds_both_sessions_tickets_audit_and_profile(world: World) -> None:
    data = json.loads(json.dumps(await world.privacy.export(T, "u1001", actor="staff:ann")))
    assert data["customer_id"] == "u1001" and data["tenant"] == T
    assert data["exported_at"] == "2027-01-15T08:00:00Z"
    sessions = data["sessions"]
    assert [s["session_id"] for s in sessions] == [world.logged_in, world.verified]
    text = json.dumps(sessions, ensure_ascii=False)
    assert "u1001@example.cn" in text and "不想要了" in text  # what the customer said
    assert world.other not in text
    assert data["profile"]["email"] == "u1001@example.cn"
    [ticket] = data["tickets"]
    assert (ticket["ticket_id"], ticket["subject"]) == (world.ticket.ticket_id, "包裹破损")
    audit = data["audit"]
    assert [(r["kind"], r["subject"]) for r in audit] == [("shop.write", "u1001")]
    assert audit[0]["payload"]["action"] == "cancel_order"
    not_included = json.dumps(data["not_included"])
    assert "orders" in not_included and "system of record" in not_included
    # The export itself is on record, under the customer and the staff member.
    done = await world.audit.query(T, AuditFilter(kind="admin.action", subject="u1001"))
    assert [(r.actor, r.payload["action"]) for r in done] == [("staff:ann", "privacy.export")]


async def test_erase_everywhere_keeps_others_and_the_chain_and_is_idempotent(
    world: World,
) -> None:
    store, shop, audit = world.services.store, world.services.orders, world.audit
    held = len(await audit.query(T, AuditFilter(subject="u1001")))
    await world.privacy.export(T, "u1001")  # recorded under the customer too
    assert (T, SessionId(world.logged_in)) in world.services.manager._cache
    report = await world.privacy.erase(T, "u1001", actor="staff:ann")
    assert (report.sessions_erased, report.tickets_anonymised) == (2, 1)
    assert report.audit_records_erased == held + 1  # and the export's own record
    assert any("orders" in o.what for o in report.not_erased)
    for sid in (world.logged_in, world.verified):
        assert await store.load(T, SessionId(sid)) == []
        assert await store.get_session(T, SessionId(sid)) is None
        assert (T, SessionId(sid)) not in world.services.manager._cache
    with pytest.raises(ChatError) as gone:  # the customer's old session is no more
        await world.services.manager.handle(
            ChatRequest(tenant=T, text="你好", session_id=world.logged_in, user_id="u1001")
        )
    assert gone.value.status == 404
    assert await store.load(T, SessionId(world.other))  # another customer's: untouched
    assert await store.customer_sessions(T, "u1001") == []
    ticket = await shop.get_ticket(T, world.ticket.ticket_id)
    assert ticket is not None
    assert (ticket.subject, ticket.body, ticket.user_id) == (ERASED, ERASED, None)
    assert (ticket.category, ticket.status) == ("complaint", "open")  # statistics stay
    assert await shop.get_ticket(T, world.other_ticket.ticket_id) == world.other_ticket
    assert await shop.get_customer(T, "u1001") is not None  # the shop's record stays
    records = await audit.query(T, AuditFilter(subject="u1001"))
    erased = [r for r in records if r.kind != ERASE_KIND]
    assert len(erased) == held + 1
    assert all(set(r.payload) == {"erased", "payload_sha256"} for r in erased)
    assert (await audit.query(T, AuditFilter(subject="u1002")))[0].payload == {"x": 1}
    assert (await audit.verify(T)).ok

    again = await world.privacy.erase(T, "u1001", actor="staff:ann")
    counts = (again.sessions_erased, again.tickets_anonymised, again.audit_records_erased)
    assert counts == (0, 0, 0)
    erasures = await audit.query(T, AuditFilter(kind=ERASE_KIND, subject="u1001"))
    assert len(erasures) == 2  # the first by the audit log, the repeat's by the service
    assert erasures[0].payload == {"erased_seqs": [], "sessions": 0, "tickets": 0}
    assert (await audit.verify(T)).ok


async def test_without_shop_or_audit_the_sessions_go_and_the_rest_is_reported() -> None:
    store = InMemoryTrackerStore()
    forgotten: list[tuple[str, str]] = []
    privacy = PrivacyService(store, None, None, forget=lambda t, s: forgotten.append((t, s)))
    verified = SlotSet(ts=2.0, name="verified_user_id", value="c1")
    sid = await new_session(store, [SessionStarted(ts=1.0), verified])
    kept = await new_session(store, [SessionStarted(ts=1.0)], tenant=TenantId("t2"))
    data = await privacy.export("t1", "c1")
    assert data["profile"] is None and data["tickets"] == [] and data["audit"] == []
    whats = {o["what"] for o in json.loads(json.dumps(data["not_included"]))}
    assert {"profile and tickets", "audit records"} <= whats
    report = await privacy.erase("t1", "c1", actor="cli")
    assert report.sessions_erased == 1 and forgotten == [("t1", sid)]
    assert {o.what for o in report.not_erased} >= {"tickets", "audit records"}
    assert await store.get_session(TenantId("t2"), kept) is not None


async def test_tickets_of_a_back_end_without_the_anonymise_call_are_reported() -> None:
    def no_such_route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(no_such_route), base_url="http://s")
    shop = HttpShop("http://s", client=client, backoff_s=0.0)
    privacy = PrivacyService(InMemoryTrackerStore(), shop, None)
    report = await privacy.erase("t1", "c1", actor="cli")
    [tickets] = [o for o in report.not_erased if o.what == "tickets"]
    assert "managed by the shop's back end" in tickets.reason
    assert report.tickets_anonymised == 0
    await client.aclose()


async def test_a_blank_or_long_customer_id_is_refused() -> None:
    privacy = PrivacyService(InMemoryTrackerStore(), None, None)
    for bad in ("", "  ", "x" * 201):
        with pytest.raises(ValueError):
            await privacy.erase("t1", bad, actor="cli")
