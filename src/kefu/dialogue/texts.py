"""System texts of the dialogue engine in Chinese and English."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "fallback": {
        "zh": "抱歉，我没太明白您的意思。您可以换个说法，或者选择下面的常见问题：",
        "en": "Sorry, I didn't quite get that. Could you rephrase, or pick one of these?",
    },
    "cancelled": {
        "zh": "好的，已为您取消「{flow}」，没有做任何更改。",
        "en": "OK, I've stopped \u201c{flow}\u201d. Nothing was changed.",
    },
    "nothing_to_cancel": {
        "zh": "好的。还有什么可以帮您？",
        "en": "All right. Anything else I can help with?",
    },
    "resume": {
        "zh": "我们继续刚才的「{flow}」：",
        "en": "Let's get back to \u201c{flow}\u201d:",
    },
    "reask_default": {
        "zh": "抱歉，没有识别到有效的信息，请再试一次。",
        "en": "Sorry, that doesn't look valid. Please try again.",
    },
    "confirm_reask": {
        "zh": "请回复「是」确认，或「否」放弃。",
        "en": "Please answer \u201cyes\u201d to confirm or \u201cno\u201d to drop it.",
    },
    "declined": {
        "zh": "好的，没有做任何更改。",
        "en": "OK, nothing has been changed.",
    },
    "too_many_retries": {
        "zh": "抱歉，这一步我没能帮到您。需要为您转接人工客服吗？",
        "en": "Sorry, I couldn't get this step right. Shall I pass you to a human agent?",
    },
    "action_error": {
        "zh": "抱歉，系统暂时无法处理，请稍后再试，或转人工客服处理。",
        "en": (
            "Sorry, our system can't handle this right now. "
            "Please try again later or ask for a human agent."
        ),
    },
    "handoff": {
        "zh": "正在为您转接人工客服，请稍候。",
        "en": "I'm passing you to a human agent, please hold on.",
    },
    "yes": {"zh": "是", "en": "Yes"},
    "no": {"zh": "否", "en": "No"},
    "human": {"zh": "转人工", "en": "Talk to a human"},
    "topic_order": {"zh": "查订单", "en": "Order status"},
    "topic_logistics": {"zh": "查物流", "en": "Track a parcel"},
    "internal_error": {
        "zh": "抱歉，系统开小差了，请稍后再试。",
        "en": "Sorry, something went wrong on our side. Please try again.",
    },
}


def text(key: str, lang: str, **values: str) -> str:
    entry = _TEXTS[key]
    s = entry.get(lang) or entry["zh"]
    return s.format(**values) if values else s
