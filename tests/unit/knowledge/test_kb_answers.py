"""What a customer gets from the knowledge base: the right FAQ answer with its source, an
extractive answer from a document, a choice between close entries, or "not in the KB"
with a button to a human, in their language, from their shop only."""

from __future__ import annotations

from kefu.domain.replies import OptionsReply, TextReply
from kefu.knowledge.answerer import KbAnswerer
from kefu.knowledge.base import KnowledgeAnswer
from kefu.knowledge.metrics import KnowledgeMetrics
from kefu.knowledge.model import DocEntry, FaqEntry
from kefu.knowledge.service import KnowledgeBase
from kefu.knowledge.settings import AnswerPolicy


def text_of(answer: KnowledgeAnswer | None) -> str:
    assert answer is not None
    reply = answer.replies[0]
    assert isinstance(reply, TextReply | OptionsReply)
    return reply.text


def cache_count(metrics: KnowledgeMetrics, result: str, tenant: str = "default") -> float:
    value = metrics.registry.get_sample_value(
        "kefu_kb_cache_lookups_total", {"tenant": tenant, "result": result}
    )
    return value or 0.0


async def test_a_chinese_question_gets_the_faq_answer_and_its_source(
    answerer: KbAnswerer,
) -> None:
    got = await answerer.answer("退货运费谁出", lang="zh", tenant="default")
    assert got is not None and got.answer_source == "faq"
    assert "运费由我们承担" in text_of(got)
    assert got.sources[0].id == "zh-015"
    assert got.sources[0].title == "退货的运费由谁承担？"
    assert 0.75 <= got.sources[0].score <= 1.5


async def test_an_english_question_gets_the_english_answer(answerer: KbAnswerer) -> None:
    got = await answerer.answer("How long does a refund take?", lang="en", tenant="default")
    assert got is not None and got.sources[0].id == "en-019"
    assert "working days" in text_of(got)


async def test_a_question_the_kb_cannot_answer_offers_a_human(answerer: KbAnswerer) -> None:
    got = await answerer.answer("今天天气怎么样", lang="zh", tenant="default")
    assert got is not None and got.answer_source == "fallback"
    reply = got.replies[0]
    assert isinstance(reply, OptionsReply)
    assert "没有找到" in reply.text
    assert [o.payload for o in reply.options] == [{"intent": "human_agent"}]
    assert got.sources == ()


async def test_not_found_can_leave_the_fallback_to_the_dialogue_manager(
    answerer: KbAnswerer,
) -> None:
    answerer.policy = answerer.policy.model_copy(update={"not_found": "none"})
    assert await answerer.answer("Tell me a joke", lang="en", tenant="default") is None


async def test_an_unsure_match_asks_which_entry_is_meant(answerer: KbAnswerer) -> None:
    answerer.policy = AnswerPolicy(faq_threshold=1.9, suggest_threshold=0.3, max_options=3)
    got = await answerer.answer("发票开错了还没开票怎么办", lang="zh", tenant="default")
    assert got is not None and got.answer_source == "faq"
    reply = got.replies[0]
    assert isinstance(reply, OptionsReply) and reply.text == "您想问的是下面哪个问题？"
    faq_ids = [o.payload.get("faq_id") for o in reply.options[:-1]]
    assert "zh-025" in faq_ids and len(faq_ids) <= 3
    assert reply.options[-1].payload == {"intent": "human_agent"}
    assert [s.id for s in got.sources] == faq_ids
    # the click on an option answers that entry
    clicked = await answerer.answer_entry("zh-025", lang="zh", tenant="default")
    assert clicked is not None and "换开" in text_of(clicked)
    assert await answerer.answer_entry("gone", lang="zh", tenant="default") is None


async def test_a_document_gives_its_best_passage_with_the_title(
    kb: KnowledgeBase, answerer: KbAnswerer
) -> None:
    doc = DocEntry(
        id="aftersales-policy",
        lang="zh",
        title="售后服务条款",
        content=(
            "# 售后服务条款\n\n## 上门安装\n大家电（冰箱、洗衣机、空调）免费送货上门并安装，"
            "安装师傅会在发货后 48 小时内电话预约。\n\n## 以旧换新\n购买冰箱可以申请以旧换新，"
            "旧机由师傅上门回收，回收款抵扣新机价格。"
        ),
    )
    await kb.upsert("default", doc)
    got = await answerer.answer("买冰箱送货的时候包安装吗", lang="zh", tenant="default")
    assert got is not None and got.answer_source == "kb"
    body = text_of(got)
    assert body.startswith("以下内容摘自《售后服务条款》")
    assert "48 小时内电话预约" in body
    assert got.sources[0].id == "aftersales-policy"


async def test_an_exact_product_code_finds_its_entry(
    kb: KnowledgeBase, answerer: KbAnswerer
) -> None:
    await kb.upsert(
        "default",
        FaqEntry(
            id="sku-1", lang="zh", question="KX-720 空气炸锅的保修期", answer="KX-720 保修两年。"
        ),
    )
    ranked = await kb.search("default", "KX-720 坏了", lang="zh")
    assert ranked[0].entry_id == "sku-1"
    assert ranked[0].sparse == 1.0  # the BM25 top hit


async def test_a_changed_entry_is_answered_at_once_not_from_the_cache(
    kb: KnowledgeBase, answerer: KbAnswerer, metrics: KnowledgeMetrics
) -> None:
    first = await answerer.answer("支持货到付款吗", lang="zh", tenant="default")
    assert "暂不支持货到付款" in text_of(first)
    again = await answerer.answer("支持货到付款吗", lang="zh", tenant="default")
    assert again == first and cache_count(metrics, "exact") == 1
    stored = await kb.get("default", "zh-032")
    assert stored is not None and isinstance(stored.entry, FaqEntry)
    changed = FaqEntry(
        id="zh-032",
        lang="zh",
        question=stored.entry.question,
        similar=stored.entry.similar,
        answer="现在支持货到付款了，下单时选择「货到付款」即可。",
    )
    assert await kb.upsert("default", changed) == "updated"
    after = await answerer.answer("支持货到付款吗", lang="zh", tenant="default")
    assert text_of(after).startswith("现在支持货到付款了")


async def test_a_near_identical_question_is_a_semantic_cache_hit(
    answerer: KbAnswerer, metrics: KnowledgeMetrics
) -> None:
    first = await answerer.answer("退款多久到账", lang="zh", tenant="default")
    second = await answerer.answer("退款多久到账？？", lang="zh", tenant="default")
    assert second == first
    assert cache_count(metrics, "semantic") == 1
    ratio = metrics.registry.get_sample_value("kefu_kb_cache_hit_ratio", {"tenant": "default"})
    assert ratio == 0.5


async def test_answers_never_cross_tenants_or_languages(
    kb: KnowledgeBase, answerer: KbAnswerer, metrics: KnowledgeMetrics
) -> None:
    assert text_of(await answerer.answer("退货运费谁出", lang="zh", tenant="default"))
    other = await answerer.answer("退货运费谁出", lang="zh", tenant="shop_b")
    assert other is not None and other.answer_source == "fallback"  # shop_b has no KB
    await kb.upsert(
        "shop_b",
        FaqEntry(id="b1", lang="zh", question="退货运费谁出", answer="shop_b 包退货运费。"),
    )
    assert text_of(await answerer.answer("退货运费谁出", lang="zh", tenant="shop_b")).startswith(
        "shop_b"
    )
    assert "shop_b" not in text_of(
        await answerer.answer("退货运费谁出", lang="zh", tenant="default")
    )
    # the same text in another language is its own cache entry
    await answerer.answer("退货运费谁出", lang="en", tenant="default")
    assert (cache_count(metrics, "miss"), cache_count(metrics, "exact")) == (2, 1)
    assert cache_count(metrics, "miss", tenant="shop_b") == 2  # its KB changed in between


async def test_a_broken_embedding_server_leaves_the_answer_to_the_fallback(
    answerer: KbAnswerer, metrics: KnowledgeMetrics
) -> None:
    from kefu.knowledge.embedding import EmbeddingError

    class Down:
        name = answerer.kb.embedder.name

        async def embed(self, texts: object) -> object:
            raise EmbeddingError("embedding server unreachable")

    answerer.kb.searcher.embedder = Down()  # type: ignore[assignment]
    assert await answerer.answer("一个新问题", lang="zh", tenant="default") is None
    assert (
        metrics.registry.get_sample_value(
            "kefu_kb_answers_total", {"tenant": "default", "outcome": "error"}
        )
        == 1
    )
