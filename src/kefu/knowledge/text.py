"""Text handling for retrieval: normalisation, BM25 tokens (jieba for Chinese, words for
English, ids kept whole) and Chinese-aware sentence splitting."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

# Bump when tokens change: stored tokens of another version are recomputed on load.
TOKENIZER_VERSION = "1"

_SPACE = re.compile(r"\s+")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Latin words, numbers and ids such as "sku-a123", "kf202611180002", "usb-c", "3.5mm".
_TERM = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")
_ID_PART = re.compile(r"[a-z0-9]+")
_CJK_OR_TERM = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:[-_./][a-z0-9]+)*"
)


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


ZH_STOP = _words(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 我 我们 你 你们 您 他 她 它 是 在 能 能不能 可以 可不可以 "
    "怎么 怎么办 怎样 什么 会 要 想 有 还 就 都 和 与 也 请问 请 亲 一下 一个 这个 那个 那 这 "
    "如何 吗 呗 哪 哪些 哪里 多少 么 给 把 被 让 对 从 到 又 很 啦 嗯 哈 个 之 其"
)
EN_STOP = _words(
    "a an the i me my mine we our you your yours he she it its they them their is are was "
    "were be been being am do does did doing can could will would shall should may might "
    "must to of for in on at by with from as and or but if then so not no this that these "
    "those there here what which who whom how when why where have has had having just "
    "please hi hello any some get got"
)

_jieba_lock = threading.Lock()
_jieba: Any = None


def _jieba_module() -> Any:
    """jieba, loaded once (its dictionary takes about a second to load)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba  # type: ignore[import-untyped]

                jieba.setLogLevel(60)
                jieba.initialize()
                for word in shop_words():
                    jieba.add_word(word, freq=200_000)
                _jieba = jieba
    return _jieba


@lru_cache(maxsize=1)
def shop_words() -> tuple[str, ...]:
    """E-commerce words jieba's dictionary misses or splits badly (退货 -> 退 / 货运)."""
    raw = resources.files("kefu.knowledge").joinpath("data/jieba-words.txt").read_text("utf-8")
    return tuple(w.strip() for w in raw.splitlines() if w.strip() and not w.startswith("#"))


def warm_up() -> None:
    _jieba_module()


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def _stem(word: str) -> str:
    """A light English plural stemmer (refunds -> refund, invoices -> invoice)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _term_tokens(term: str) -> Iterator[str]:
    if term.isdigit() or not any(c in term for c in "-_./"):
        yield term if term.isdigit() or any(c.isdigit() for c in term) else _stem(term)
        return
    yield term  # the whole id ("sku-a123") and its parts ("sku", "a123")
    yield from _ID_PART.findall(term)


def tokenize(text: str) -> list[str]:
    """BM25 tokens of any text: jieba (search mode) over Chinese runs, words and ids over
    Latin runs, stop words dropped. Ids and SKUs stay whole so an exact id hits."""
    norm = normalize(text)
    out: list[str] = []
    for m in _CJK_OR_TERM.finditer(norm):
        piece = m.group(0)
        if _CJK_RUN.fullmatch(piece):
            for w in _jieba_module().cut_for_search(piece):
                if w not in ZH_STOP:
                    out.append(w)
        else:
            out.extend(t for t in _term_tokens(piece) if t not in EN_STOP)
    return out


_SENT_END = re.compile(r"(?<=[。！？!?；;…])|(?<=\.)(?=\s)|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of Chinese or English text: split after 。！？；… and after . ! ? followed
    by a space, and at line breaks; the punctuation stays with its sentence."""
    parts = _SENT_END.split(text)
    return [p.strip() for p in parts if p and p.strip()]
