"""The stage-2 hook: unsure, long or compound messages say so, and a clarifying question
between the top intents can be asked without an LLM."""

from __future__ import annotations

from kefu.nlu.base import OUT_OF_SCOPE, NluResult
from kefu.nlu.clarify import IntentLabels, clarify_reply
from kefu.nlu.pipeline import StageOneNlu


def test_compound_message_is_flagged(nlu: StageOneNlu) -> None:
    r = nlu.parse("我要退货，另外发票也帮我开一下", lang="zh")
    assert r.needs_llm
    assert r.reason == "compound"
    assert {"return_request", "invoice"} <= {name for name, _ in r.candidates}


def test_long_message_is_flagged(nlu: StageOneNlu) -> None:
    story = "我上个月在你们店买了一件外套，" * 6 + "现在想退货"
    r = nlu.parse(story, lang="zh")
    assert r.needs_llm
    assert r.reason in ("long", "compound")


def test_confident_short_message_is_not_flagged(nlu: StageOneNlu) -> None:
    r = nlu.parse("在吗", lang="zh")
    assert not r.needs_llm
    assert r.reason == ""


def test_out_of_scope_is_flagged_with_candidates(nlu: StageOneNlu) -> None:
    r = nlu.parse("今天天气怎么样", lang="zh")
    assert r.intent == OUT_OF_SCOPE
    assert r.needs_llm


def test_a_bare_slot_value_or_act_does_not_need_the_llm(nlu: StageOneNlu) -> None:
    assert not nlu.parse("KF202611180002", lang="zh").needs_llm
    assert not nlu.parse("好的", lang="zh").needs_llm


def test_clarifying_question_between_the_top_two() -> None:
    result = NluResult(
        intent=OUT_OF_SCOPE,
        confidence=0.5,
        stage="classifier",
        candidates=(("return_request", 0.41), ("exchange_request", 0.38), ("invoice", 0.02)),
        needs_llm=True,
        reason="low_confidence",
    )
    reply = clarify_reply(result, lang="zh", labels=IntentLabels.default())
    assert reply is not None
    assert reply.text == "您是想退货还是换货？"
    payloads = [o.payload for o in reply.options]
    assert payloads[:2] == [{"intent": "return_request"}, {"intent": "exchange_request"}]
    assert len({o.id for o in reply.options}) == len(reply.options)
    en = clarify_reply(result, lang="en", labels=IntentLabels.default(), none_option=False)
    assert en is not None
    assert en.text == "Would you like to return an item or exchange an item?"
    assert len(en.options) == 2


def test_no_question_when_sure_or_without_rivals() -> None:
    sure = NluResult(
        intent="invoice",
        confidence=0.95,
        stage="classifier",
        candidates=(("invoice", 0.95), ("payment", 0.01)),
    )
    assert clarify_reply(sure, lang="zh", labels=IntentLabels.default()) is None
    alone = NluResult(
        intent=OUT_OF_SCOPE,
        confidence=0.9,
        stage="classifier",
        candidates=(("invoice", 0.05), ("payment", 0.01)),
        needs_llm=True,
        reason="out_of_scope",
    )
    assert clarify_reply(alone, lang="zh", labels=IntentLabels.default()) is None


def test_unknown_intents_are_named_readably() -> None:
    assert IntentLabels.default().label("track_refund", "en") == "track refund"


def test_a_bare_value_has_no_intent_but_a_question_with_one_does(nlu: StageOneNlu) -> None:
    for text in ("nobody@example.com", "我的邮箱是 li@example.com", "黑色的", "XL"):
        r = nlu.parse(text, lang="zh")
        assert (r.intent, r.needs_llm) == (OUT_OF_SCOPE, False), text
    r = nlu.parse("上周五买的两件XL黑色T恤想换成L码", lang="zh")
    assert r.intent == "exchange_request"
