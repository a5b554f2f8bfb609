"""What a customer notices: the default model understands them, in Chinese and English."""

from __future__ import annotations

import pytest

from kefu.nlu.base import OUT_OF_SCOPE
from kefu.nlu.pipeline import StageOneNlu

# The sentences, and one new sentence per default intent (not in the training
# examples, not in the benchmark's held-out set).
ZH = [
    ("我买的裙子尺码不对,想换货但包装丢了怎么办", "exchange_request"),
    ("钱咋还没退回来", "refund_status"),
    ("在吗", "greeting"),
    ("你们这什么破服务", "complaint"),
    ("如何退货", "return_request"),
    ("您好呀，在不在", "greeting"),
    ("好的没事了，拜拜", "goodbye"),
    ("太谢谢你啦", "thanks"),
    ("麻烦帮我接人工", "human_agent"),
    ("帮我查查订单现在什么状态", "order_status"),
    ("我的包裹到哪了啊", "logistics_tracking"),
    ("今天下单几天能到", "delivery_time"),
    ("地址写错了要改", "change_address"),
    ("帮我取消这个订单", "cancel_order"),
    ("鞋子不合脚我想退货", "return_request"),
    ("衣服小了想换个大码", "exchange_request"),
    ("退款进度帮我查一下", "refund_status"),
    ("退货运费是谁出呀", "refund_policy"),
    ("麻烦开一张电子发票", "invoice"),
    ("刚买就降价了，能价保吗", "price_protection"),
    ("这个还有现货吗", "presale"),
    ("付款老是失败怎么办", "payment"),
    ("这件衣服是什么面料", "product_inquiry"),
    ("最近有优惠券可以领吗", "promotion"),
    ("耳机坏了能保修吗", "warranty_repair"),
    ("忘记登录密码了", "account"),
    ("给我讲个笑话吧", OUT_OF_SCOPE),
]
EN = [
    ("hello there", "greeting"),
    ("ok that's all, bye", "goodbye"),
    ("thanks so much", "thanks"),
    ("can i talk to a real person", "human_agent"),
    ("what's the status of my order", "order_status"),
    ("where is my parcel right now", "logistics_tracking"),
    ("when will my order arrive", "delivery_time"),
    ("i need to change my delivery address", "change_address"),
    ("please cancel my order", "cancel_order"),
    ("i want to return these shoes", "return_request"),
    ("can i exchange it for a bigger size", "exchange_request"),
    ("i still haven't received my refund", "refund_status"),
    ("what is your return policy", "refund_policy"),
    ("please send me an invoice", "invoice"),
    ("the price dropped right after i bought it", "price_protection"),
    ("is this jacket in stock", "presale"),
    ("my card was declined at checkout", "payment"),
    ("is this shirt made of cotton", "product_inquiry"),
    ("do you have any discount codes", "promotion"),
    ("this is the worst service ever", "complaint"),
    ("my headphones stopped working, is that covered by warranty", "warranty_repair"),
    ("i forgot my password", "account"),
    ("what's the weather like today", OUT_OF_SCOPE),
]


@pytest.mark.parametrize(("text", "intent"), ZH)
def test_chinese(nlu: StageOneNlu, text: str, intent: str) -> None:
    assert nlu.parse(text, lang="zh").intent == intent


@pytest.mark.parametrize(("text", "intent"), EN)
def test_english(nlu: StageOneNlu, text: str, intent: str) -> None:
    assert nlu.parse(text, lang="en").intent == intent


def test_traditional_and_full_width_text_is_understood(nlu: StageOneNlu) -> None:
    assert nlu.parse("我買的裙子尺碼不對，想換貨！！！", lang="zh").intent == "exchange_request"
    assert nlu.parse("ＷＨＥＲＥ ＩＳ ＭＹ ＲＥＦＵＮＤ", lang="en").intent == "refund_status"


def test_negation_is_not_the_intent(nlu: StageOneNlu) -> None:
    r = nlu.parse("不想退货了", lang="zh")
    assert r.intent != "return_request"
    assert "stop" in r.acts
    assert nlu.parse("我不要换货，我要退货", lang="zh").intent == "return_request"
    r = nlu.parse("i don't want to return it anymore", lang="en")
    assert r.intent != "return_request"


def test_question_forms_are_not_negations(nlu: StageOneNlu) -> None:
    assert nlu.parse("有没有人工客服", lang="zh").intent == "human_agent"
    assert nlu.parse("有没有满减活动", lang="zh").intent == "promotion"


def test_rules_have_priorities(nlu: StageOneNlu) -> None:
    r = nlu.parse("物流太慢了我要投诉", lang="zh")
    assert (r.intent, r.stage) == ("complaint", "rule")


def test_classifier_covers_what_rules_do_not(nlu: StageOneNlu) -> None:
    r = nlu.parse("物流三天没动了，是不是丢了", lang="zh")
    assert r.intent == "logistics_tracking"
    assert r.stage == "classifier"
    assert 0.0 < r.confidence <= 1.0


def test_acts_still_work(nlu: StageOneNlu) -> None:
    assert "affirm" in nlu.parse("是的", lang="zh").acts
    assert "deny" in nlu.parse("不是", lang="zh").acts
    assert "stop" in nlu.parse("算了", lang="zh").acts
    assert "correct" in nlu.parse("不对，订单号是KF202611250001", lang="zh").acts
    assert "affirm" in nlu.parse("yes please", lang="en").acts


def test_entities_come_with_the_intent(nlu: StageOneNlu) -> None:
    text = "订单KF202611180002的快递到哪了"
    r = nlu.parse(text, lang="zh")
    assert r.intent == "logistics_tracking"
    order = r.entity("order_id")
    assert order is not None
    assert text[order.start : order.end] == "KF202611180002"
