"""Odd input never breaks NLU: it gets a valid result (usually out_of_scope)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.nlu.base import OUT_OF_SCOPE, NluResult
from kefu.nlu.pipeline import StageOneNlu

NASTY = [
    "",
    "   \n\t ",
    "😀" * 2000,
    "\x00\x01\x02\x1b[31m\x7f",
    "\ud800\udfff lone surrogates",
    "退货 return 返品 반품 возврат ☃︎ 👨‍👩‍👧",
    "'; DROP TABLE orders; --",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "{{7*7}} ${jndi:ldap://x} %s%s%n",
    "a" * 5000,
    "１２３４５６７８９０" * 50,
    "\u202eRTL override\u202c",
]


def valid(r: NluResult) -> None:
    assert isinstance(r.intent, str) and r.intent
    assert 0.0 <= r.confidence <= 1.0
    assert r.stage in ("rule", "classifier")
    for e in r.entities:
        assert 0 <= e.start < e.end


@pytest.mark.parametrize("text", NASTY)
def test_nasty_input_gets_a_valid_result(nlu: StageOneNlu, text: str) -> None:
    for lang in ("zh", "en"):
        valid(nlu.parse(text, lang=lang))


def test_empty_and_emoji_only_are_out_of_scope(nlu: StageOneNlu) -> None:
    for text in ("", "   ", "😀" * 2000):
        r = nlu.parse(text, lang="zh")
        assert r.intent == OUT_OF_SCOPE
        assert not r.needs_llm


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gets_a_valid_result(nlu: StageOneNlu, text: str) -> None:
    r = nlu.parse(text, lang="zh")
    valid(r)
    for e in r.entities:
        assert e.end <= len(text)


def test_a_failing_classifier_still_gives_rules_and_entities() -> None:
    from kefu.nlu.entities import RegexEntityExtractor
    from kefu.nlu.rules import RuleSet

    class Broken:
        labels = frozenset({"greeting", "order_status"})
        threshold = 0.5
        use_rules = True

        def classify(self, text: str, *, lang: str) -> list[tuple[str, float]]:
            raise RuntimeError("encoder gone")

        def classify_many(self, texts: list[str]) -> list[list[tuple[str, float]]]:
            raise RuntimeError("encoder gone")

    nlu = StageOneNlu(
        rules=RuleSet.default(), extractor=RegexEntityExtractor(), classifier=Broken()
    )
    assert nlu.parse("在吗", lang="zh").intent == "greeting"
    r = nlu.parse("三天了还没动静 KF202611180002 呢", lang="zh")
    assert r.intent == OUT_OF_SCOPE
    assert r.entity("order_id") is not None
