"""Conformance suite every TrackerStore backend must pass.

Use it by subclassing in a test module and providing a `store` fixture that yields a
started, empty store::

    class TestSqliteStore(TrackerStoreConformance):
        @pytest.fixture
        async def store(self, tmp_path): ...
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kefu.dialogue.base import AppendBatch, SequenceConflict, SessionRecord, TrackerStore
from kefu.domain.events import (
    BotUttered,
    Event,
    FlowStarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from kefu.domain.types import SessionId, TenantId

T = TenantId("t1")


def _sid() -> SessionId:
    return SessionId(uuid.uuid4().hex)


def _record(
    sid: SessionId, tenant: TenantId = T, *, ts: float = 1000.0, user_id: str | None = "u1"
) -> SessionRecord:
    return SessionRecord(
        tenant=tenant, session_id=sid, user_id=user_id, channel="web", created_at=ts, last_active=ts
    )


async def new_session(
    store: TrackerStore,
    events: list[Event],
    *,
    tenant: TenantId = T,
    user_id: str | None = None,
    ts: float = 1000.0,
) -> SessionId:
    """A new session holding `events`, stored in one append."""
    sid = _sid()
    rec = _record(sid, tenant, ts=ts, user_id=user_id)
    await store.append(
        AppendBatch(tenant=tenant, session_id=sid, first_seq=0, events=events, new_session=rec)
    )
    return sid


def _verified(ts: float, value: str | None) -> SlotSet:
    return SlotSet(ts=ts, name="verified_user_id", value=value)


def _turn(ts: float, text: str = "你好") -> list[Event]:
    return [
        UserUttered(ts=ts, text=text, lang="zh"),
        SlotSet(ts=ts, name="order_id", value="KF202611180002"),
        BotUttered(ts=ts, replies=[{"type": "text", "text": "您好"}], answer_source="flow"),
    ]


class TrackerStoreConformance:
    """Behaviour shared by every backend: append-only, ordered, isolated, conflict-safe."""

    async def testnew_session_round_trip(self, store: TrackerStore) -> None:
        sid = _sid()
        events: list[Event] = [SessionStarted(ts=1000.0, user_id="u1"), *_turn(1000.5)]
        await store.append(
            AppendBatch(
                tenant=T, session_id=sid, first_seq=0, events=events, new_session=_record(sid)
            )
        )
        loaded = await store.load(T, sid)
        assert loaded == events
        rec = await store.get_session(T, sid)
        assert rec is not None and rec.user_id == "u1" and rec.last_active == 1000.5

    async def test_appends_keep_order_and_load_after_seq(self, store: TrackerStore) -> None:
        sid = _sid()
        first: list[Event] = [SessionStarted(ts=1.0)]
        await store.append(
            AppendBatch(
                tenant=T, session_id=sid, first_seq=0, events=first, new_session=_record(sid)
            )
        )
        second = _turn(2.0, "查订单")
        await store.append(AppendBatch(tenant=T, session_id=sid, first_seq=1, events=second))
        assert await store.load(T, sid) == first + second
        assert await store.load(T, sid, after_seq=1) == second[1:]
        assert await store.load(T, sid, after_seq=99) == []

    async def test_sequence_conflict_is_refused_and_keeps_the_log(
        self, store: TrackerStore
    ) -> None:
        sid = _sid()
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=sid,
                first_seq=0,
                events=[SessionStarted(ts=1.0)],
                new_session=_record(sid),
            )
        )
        with pytest.raises(SequenceConflict):
            await store.append(
                AppendBatch(tenant=T, session_id=sid, first_seq=0, events=_turn(2.0))
            )
        assert len(await store.load(T, sid)) == 1

    async def test_session_created_twice_is_refused(self, store: TrackerStore) -> None:
        sid = _sid()
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=sid,
                first_seq=0,
                events=[SessionStarted(ts=1.0)],
                new_session=_record(sid),
            )
        )
        with pytest.raises(SequenceConflict):
            await store.append(
                AppendBatch(
                    tenant=T,
                    session_id=sid,
                    first_seq=0,
                    events=[SessionStarted(ts=2.0)],
                    new_session=_record(sid),
                )
            )

    async def test_append_to_unknown_session_is_refused(self, store: TrackerStore) -> None:
        with pytest.raises(SequenceConflict):
            await store.append(
                AppendBatch(tenant=T, session_id=_sid(), first_seq=0, events=_turn(1.0))
            )

    async def test_tenants_do_not_see_each_other(self, store: TrackerStore) -> None:
        sid = _sid()
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=sid,
                first_seq=0,
                events=[SessionStarted(ts=1.0)],
                new_session=_record(sid),
            )
        )
        other = TenantId("t2")
        assert await store.get_session(other, sid) is None
        assert await store.load(other, sid) == []
        # The same session id may exist in another tenant, independently.
        await store.append(
            AppendBatch(
                tenant=other,
                session_id=sid,
                first_seq=0,
                events=[SessionStarted(ts=5.0)],
                new_session=_record(sid, other),
            )
        )
        assert [e.ts for e in await store.load(other, sid)] == [5.0]
        assert [e.ts for e in await store.load(T, sid)] == [1.0]

    async def test_concurrent_appends_of_many_sessions(self, store: TrackerStore) -> None:
        sids = [_sid() for _ in range(50)]

        async def converse(sid: SessionId) -> None:
            await store.append(
                AppendBatch(
                    tenant=T,
                    session_id=sid,
                    first_seq=0,
                    events=[SessionStarted(ts=1.0)],
                    new_session=_record(sid),
                )
            )
            for turn in range(3):
                await store.append(
                    AppendBatch(
                        tenant=T,
                        session_id=sid,
                        first_seq=1 + 3 * turn,
                        events=_turn(2.0 + turn, f"msg {turn}"),
                    )
                )

        await asyncio.gather(*(converse(s) for s in sids))
        for sid in sids:
            events = await store.load(T, sid)
            assert len(events) == 10
            texts = [e.text for e in events if isinstance(e, UserUttered)]
            assert texts == ["msg 0", "msg 1", "msg 2"]

    async def test_one_bad_append_does_not_fail_its_neighbours(self, store: TrackerStore) -> None:
        good, bad = _sid(), _sid()
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=bad,
                first_seq=0,
                events=[SessionStarted(ts=1.0)],
                new_session=_record(bad),
            )
        )
        results = await asyncio.gather(
            store.append(
                AppendBatch(
                    tenant=T,
                    session_id=good,
                    first_seq=0,
                    events=[SessionStarted(ts=1.0)],
                    new_session=_record(good),
                )
            ),
            store.append(AppendBatch(tenant=T, session_id=bad, first_seq=0, events=_turn(2.0))),
            return_exceptions=True,
        )
        assert results[0] is None
        assert isinstance(results[1], SequenceConflict)
        assert len(await store.load(T, good)) == 1

    async def test_payloads_survive_unicode_and_nesting(self, store: TrackerStore) -> None:
        sid = _sid()
        events: list[Event] = [
            SessionStarted(ts=1.0),
            FlowStarted(ts=1.0, flow="order_status", frame_id="f1", step="ask"),
            SlotSet(ts=1.0, name="order", value={"items": [{"name": "水杯 😀", "price": 1.5}]}),
            UserUttered(ts=1.0, text="引号\"'\\ <b>& 😀", lang="zh", payload={"a": [1, None]}),
        ]
        await store.append(
            AppendBatch(
                tenant=T, session_id=sid, first_seq=0, events=events, new_session=_record(sid)
            )
        )
        assert await store.load(T, sid) == events

    async def test_list_sessions_by_idle_time(self, store: TrackerStore) -> None:
        old, fresh = _sid(), _sid()
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=old,
                first_seq=0,
                events=[SessionStarted(ts=100.0)],
                new_session=_record(old, ts=100.0),
            )
        )
        await store.append(
            AppendBatch(
                tenant=T,
                session_id=fresh,
                first_seq=0,
                events=[SessionStarted(ts=900.0)],
                new_session=_record(fresh, ts=900.0),
            )
        )
        idle = await store.list_sessions(T, idle_before=500.0)
        assert [r.session_id for r in idle] == [old]
        assert await store.ping()

    async def test_customer_sessions_by_login_and_by_verification(
        self, store: TrackerStore
    ) -> None:
        cid = "王小明_1"
        start = SessionStarted(ts=1.0)
        logged_in = await new_session(store, [start], user_id=cid, ts=100.0)
        verified = await new_session(
            store, [start, *_turn(2.0), _verified(3.0, cid)], user_id=None, ts=200.0
        )
        others = [
            start,
            _verified(2.0, None),
            _verified(3.0, "王小明_10"),  # a longer id containing this one
            _verified(4.0, "王小明x1"),  # "_" is not a wildcard
            SlotSet(ts=5.0, name="order_id", value=cid),  # another slot with the same value
        ]
        other = await new_session(store, others, user_id="someone", ts=50.0)
        await new_session(store, [start], tenant=TenantId("t2"), user_id=cid)
        assert await store.customer_sessions(T, cid) == [logged_in, verified]
        assert await store.customer_sessions(T, "王小明_10") == [other]
        assert await store.customer_sessions(T, "nobody") == []
        quoted = 'a"b\\c%'
        q_sid = await new_session(store, [start, _verified(2.0, quoted)])
        assert await store.customer_sessions(T, quoted) == [q_sid]

    async def test_erase_session_removes_its_events_and_record(self, store: TrackerStore) -> None:
        gone = await new_session(store, [SessionStarted(ts=1.0), *_turn(2.0)], user_id="c1")
        kept = await new_session(store, [SessionStarted(ts=1.0), *_turn(2.0)], user_id="c1")
        assert await store.erase_session(TenantId("t2"), gone) is False  # another tenant's
        assert await store.erase_session(T, gone) is True
        assert await store.load(T, gone) == []
        assert await store.get_session(T, gone) is None
        assert [r.session_id for r in await store.list_sessions(T)] == [kept]
        assert await store.customer_sessions(T, "c1") == [kept]
        assert len(await store.load(T, kept)) == 4
        assert await store.erase_session(T, gone) is False
        with pytest.raises(SequenceConflict):  # a turn of the erased session is refused
            await store.append(
                AppendBatch(tenant=T, session_id=gone, first_seq=4, events=_turn(3.0))
            )
        assert await store.load(T, gone) == []
