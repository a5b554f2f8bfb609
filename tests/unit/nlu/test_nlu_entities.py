"""Entities with spans in the customer's own text: ids, couriers, dates, attributes."""

from __future__ import annotations

import itertools

import pytest

from kefu.nlu.base import Entity
from kefu.nlu.entities import RegexEntityExtractor


def found(ex: RegexEntityExtractor, text: str) -> list[tuple[str, str, str]]:
    """(type, value, the text at the span) of every entity."""
    return [(e.type, e.value, text[e.start : e.end]) for e in ex.extract(text)]


def one(ex: RegexEntityExtractor, text: str, type_: str) -> Entity:
    hits = [e for e in ex.extract(text) if e.type == type_]
    assert len(hits) == 1, (text, ex.extract(text))
    return hits[0]


def test_order_ids_in_both_formats(extractor: RegexEntityExtractor) -> None:
    assert found(extractor, "订单KF202611180002怎么还没发") == [
        ("order_id", "KF202611180002", "KF202611180002")
    ]
    assert found(extractor, "my order is #W1234567") == [("order_id", "#W1234567", "#W1234567")]
    assert found(extractor, "order w1234567 please")[0][:2] == ("order_id", "#W1234567")


def test_full_width_ids_keep_spans_on_the_original_text(extractor: RegexEntityExtractor) -> None:
    text = "订单号：ＫＦ２０２６１１２５０００１"
    e = one(extractor, text, "order_id")
    assert e.value == "KF202611250001"
    assert text[e.start : e.end] == "ＫＦ２０２６１１２５０００１"


def test_order_patterns_are_configurable() -> None:
    ex = RegexEntityExtractor(order_patterns=[r"(?<!\d)\d{6}-\d{4}(?!\d)"])
    assert found(ex, "单号 123456-7890") == [("order_id", "123456-7890", "123456-7890")]
    with pytest.raises(ValueError):
        RegexEntityExtractor(order_patterns=[])
    with pytest.raises(ValueError):
        RegexEntityExtractor(order_patterns=["(unclosed"])


@pytest.mark.parametrize(
    ("text", "number", "courier"),
    [
        ("顺丰单号SF1234567890123", "SF1234567890123", "SF"),
        ("JDVA12345678901 京东的", "JDVA12345678901", "JD"),
        ("中通 75312345678901 到哪了", "75312345678901", "ZTO"),
        ("圆通YT1234567890123", "YT1234567890123", "YTO"),
        ("申通的 7731234567890", "7731234567890", "STO"),
        ("韵达快递 4312345678901", "4312345678901", "YUNDA"),
        ("EMS EA123456789CN", "EA123456789CN", "EMS"),
        ("邮政单号 1123456789012", "1123456789012", "EMS"),
    ],
)
def test_tracking_numbers_with_their_courier(
    extractor: RegexEntityExtractor, text: str, number: str, courier: str
) -> None:
    e = one(extractor, text, "tracking_number")
    assert e.value == number
    assert e.extra == {"courier": courier}
    assert text[e.start : e.end].upper() == number


def test_courier_named_in_the_message_wins_over_the_prefix(
    extractor: RegexEntityExtractor,
) -> None:
    e = one(extractor, "运单号是 4312345678901，走的中通", "tracking_number")
    assert e.extra == {"courier": "ZTO"}
    assert one(extractor, "我要顺丰发货", "courier").value == "SF"


def test_a_bare_long_number_is_not_a_tracking_number(extractor: RegexEntityExtractor) -> None:
    assert found(extractor, "我的会员号 123456789012") == []


def test_phone_email_amount(extractor: RegexEntityExtractor) -> None:
    text = "电话 +86 138-1234-5678，邮箱 Li.Ming@Example.COM，退了199.5元"
    assert found(extractor, text) == [
        ("phone", "13812345678", "+86 138-1234-5678"),
        ("email", "li.ming@example.com", "Li.Ming@Example.COM"),
        ("amount", "199.5", "199.5元"),
    ]
    assert found(extractor, "差价一百块")[0][:2] == ("amount", "100")
    assert found(extractor, "refund $25.99 please")[0][:2] == ("amount", "25.99")


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("昨天下的单", "2026-11-24", "昨天"),
        ("前天到的货", "2026-11-23", "前天"),
        ("上周五买的", "2026-11-20", "上周五"),
        ("下周一能到吗", "2026-11-30", "下周一"),
        ("三天前申请的退款", "2026-11-22", "三天前"),
        ("11月11号买的", "2026-11-11", "11月11号"),
        ("2026年10月1日", "2026-10-01", "2026年10月1日"),
        ("ordered last friday", "2026-11-20", "last friday"),
        ("it arrived 2 days ago", "2026-11-23", "2 days ago"),
        ("delivered on Nov 3rd", "2026-11-03", "Nov 3rd"),
        ("tomorrow", "2026-11-26", "tomorrow"),
    ],
)
def test_dates_resolve_against_the_injected_clock(
    extractor: RegexEntityExtractor, text: str, value: str, surface: str
) -> None:
    e = one(extractor, text, "date")
    assert (e.value, text[e.start : e.end]) == (value, surface)


def test_months_and_impossible_dates(extractor: RegexEntityExtractor) -> None:
    e = one(extractor, "上个月买的", "date")
    assert (e.value, e.extra["granularity"]) == ("2026-10", "month")
    assert [x for x in extractor.extract("2月30号") if x.type == "date"] == []


def test_sizes_colours_quantities(extractor: RegexEntityExtractor) -> None:
    text = "上周五买的两件XL黑色T恤，想换成38码的藏青色"
    got = found(extractor, text)
    assert ("quantity", "2", "两件") in got
    assert ("size", "XL", "XL") in got
    assert ("color", "black", "黑色") in got
    assert ("size", "38", "38") in got
    assert ("color", "navy", "藏青色") in got
    en = found(extractor, "exchange 2 pairs for size M in navy")
    assert ("quantity", "2", "2 pairs") in en
    assert ("size", "M", "M") in en
    assert ("color", "navy", "navy") in en


def test_colour_words_inside_other_words_are_not_colours(extractor: RegexEntityExtractor) -> None:
    assert [e for e in extractor.extract("我明白的，白跑一趟") if e.type == "color"] == []
    assert [e for e in extractor.extract("I'm so bored, items are fine") if e.type != "x"] == []


def test_colour_values_are_canonical(extractor: RegexEntityExtractor) -> None:
    e = one(extractor, "要酒红色", "color")
    assert e.value == "wine red"
    assert e.extra == {"text": "酒红色", "zh": "酒红色"}


def test_spans_never_overlap(extractor: RegexEntityExtractor) -> None:
    ents = extractor.extract("KF202611180002 SF1234567890123 13812345678 2件 XL 红色 昨天 ¥99")
    for a, b in itertools.pairwise(ents):
        assert a.end <= b.start
