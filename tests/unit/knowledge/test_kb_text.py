"""Tokens for BM25 (ids kept whole, shop words kept together), sentences and chunks."""

from __future__ import annotations

from kefu.knowledge.chunking import chunk_text
from kefu.knowledge.text import split_sentences, tokenize


def test_ids_and_skus_stay_whole_and_also_split() -> None:
    tokens = tokenize("订单 KF202611180002 的 SKU-A123 能退吗")
    assert "kf202611180002" in tokens
    assert {"sku-a123", "sku", "a123"} <= set(tokens)


def test_shop_words_are_not_cut_apart() -> None:
    assert tokenize("退货运费由谁承担")[:2] == ["退货", "运费"]
    assert "价保" in tokenize("价保怎么申请")


def test_english_plurals_and_stop_words() -> None:
    assert tokenize("How do the refunds work for my invoices?") == ["refund", "work", "invoice"]


def test_sentences_split_after_chinese_and_english_ends() -> None:
    text = "付款后 48 小时内发货；预售按页面时间。Hello there. It is 3.5 mm! OK?"
    assert split_sentences(text) == [
        "付款后 48 小时内发货；",
        "预售按页面时间。",
        "Hello there.",
        "It is 3.5 mm!",
        "OK?",
    ]


def test_chunks_follow_headings_and_overlap_by_whole_sentences() -> None:
    doc = (
        "# 政策\n\n## 退货\n第一句话比较长一些。第二句话也不短。第三句话收尾。\n\n"
        "## Refunds\nRefunds take three days. They go back to the card. Banks may be slower."
    )
    zh = [c.text for c in chunk_text(doc, size=20, overlap=10) if c.section == "退货"]
    assert zh == ["第一句话比较长一些。第二句话也不短。", "第二句话也不短。第三句话收尾。"]
    en = [c.text for c in chunk_text(doc, size=50, overlap=30) if c.section == "Refunds"]
    assert en == [
        "Refunds take three days. They go back to the card.",
        "They go back to the card. Banks may be slower.",
    ]


def test_long_sentences_are_cut_at_spaces() -> None:
    chunks = chunk_text("word " * 100, size=50, overlap=0)
    assert all(len(c.text) <= 50 for c in chunks)
    assert all(not c.text.endswith("wor") for c in chunks)
