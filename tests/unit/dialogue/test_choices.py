"""Choosing by words: a Chinese catalog's options named in English, sizes, what isn't offered."""

from __future__ import annotations

from kefu.dialogue.choices import build_choices, match_choices
from kefu.dialogue.flow_model import Step, render
from kefu.domain.types import JsonValue


def _variant(item_id: str, colour: str, size: str) -> dict[str, JsonValue]:
    return {
        "item_id": item_id,
        "options": {"颜色": colour, "尺码": size},
        "label": f"纯棉圆领T恤 颜色: {colour}, 尺码: {size} 79.00",
    }


# what list_variants offers: in stock only (藏青色 XL is not)
OFFERED: list[JsonValue] = [
    _variant("1001-W-M", "白色", "M"),
    _variant("1001-K-M", "黑色", "M"),
    _variant("1001-K-L", "黑色", "L"),
    _variant("1001-N-M", "藏青色", "M"),
]
STEP = Step.model_validate(
    {
        "id": "ask_variant",
        "collect": "new_item_id",
        "options_from": "variants",
        "option_value": "item_id",
        "option_label": "{label}",
        "ask": "?",
    }
)


def pick(text: str) -> list[str]:
    choices = build_choices(STEP, {"variants": OFFERED}, "en")
    return [str(c.value) for c in match_choices(text, choices, multi=False)]


def test_english_colour_words_choose_chinese_options() -> None:
    assert pick("the white one") == ["1001-W-M"]
    assert pick("navy please") == ["1001-N-M"]


def test_a_named_size_settles_between_colours_alike() -> None:
    assert pick("black") == []  # two black ones: unclear
    assert pick("black, size L") == ["1001-K-L"]
    assert pick("黑色 M码") == ["1001-K-M"]


def test_what_is_not_offered_is_not_chosen() -> None:
    assert pick("the pink one") == []
    assert pick("navy size XL") == []


def test_amounts_render_with_two_decimals() -> None:
    slots: dict[str, JsonValue] = {"order": {"total": 158.0}, "n": 3, "items": ["a", "b"]}
    assert render("共 {order.total} 元，{n} 件：{items}", slots) == "共 158.00 元，3 件：a, b"
