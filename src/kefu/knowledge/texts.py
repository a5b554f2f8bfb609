"""What the knowledge layer says, in Chinese and English."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "not_found": {
        "zh": "抱歉，知识库里没有找到这个问题的答案。需要为您转接人工客服吗？",
        "en": (
            "Sorry, I couldn't find the answer to that in our help articles. "
            "Would you like to talk to a human agent?"
        ),
    },
    "human": {"zh": "转人工客服", "en": "Talk to a human"},
    "clarify": {"zh": "您想问的是下面哪个问题？", "en": "Which of these did you mean?"},
    "none_of_these": {"zh": "都不是，转人工", "en": "None of these, talk to a human"},
    "from_doc": {
        "zh": "以下内容摘自《{title}》：\n{text}",
        "en": "From \u201c{title}\u201d:\n{text}",
    },
}


def text(key: str, lang: str, **values: str) -> str:
    entry = _TEXTS[key]
    s = entry.get(lang) or entry["zh"]
    return s.format(**values) if values else s
