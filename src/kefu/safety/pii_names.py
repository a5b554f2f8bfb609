"""Person names in Chinese and English text, from word lists and context; no model.

Chinese (`data/surnames_zh.txt`, `given_chars_zh.txt`, `not_names_zh.txt`):
- after a cue (我叫, 姓名：, 收件人, 联系人, 医生 …): surname + one or two characters;
- before a title (先生, 女士, 医生, 经理 …): surname (+ given name);
- with no cue: a common surname + two given-name characters (王小明), or + one (张伟) at
  the start of a sentence, between word boundaries, and not a listed common word (高兴);
- transliterated names joined by a middle dot (温迪·格伦).
English (`data/first_names_en.txt`, `not_surnames_en.txt`):
- after a title (Mr., Ms., Dr. …) or a cue ("my name is", "name:", "recipient" …);
- a known first name followed by one or two capitalised surname-like words (Matthew Smith),
  unless the pair reads as shop text ("Rose Gold", "Jordan Shoes").
Every other mention of a found name's words is a name too (`mentions_of`).

jieba's part-of-speech tagger (`nr`) was measured at about 1 ms per 116 characters after a
0.8 s load, over the whole per-message budget, so it is not used.
"""

from __future__ import annotations

import re

from kefu.safety.pii_base import Hit, PiiType, Taken, is_cjk, word_list
from kefu.safety.pii_data import sections, trie_regex, words

# Cues that introduce a name: any characters may follow ("我叫张三").
_INTRO_ZH = word_list("我叫 我的名字是 名字是 名字叫 名叫 叫做")
# Cues that often precede a name, but also other words ("客户申请", "姓名关联"): unless a
# separator follows (收件人：), the given name must use name characters.
_CUES_ZH = word_list(
    "姓名 收件人 收货人 联系人 寄件人 签收人 持卡人 开户名 户名 本人 患者 病人 客户 买家 经办人 "
    "负责人 医生 医师 大夫 主治医生 主治医师 责任医生 我是"
)
_TITLES_ZH = word_list(
    "先生 女士 小姐 老师 医生 医师 大夫 主任 主任医师 副主任医师 主治医师 主治医生 经理 总监 "
    "师傅 同学 教授 博士 律师 阿姨 叔叔 大哥 大姐 姐 哥 总 老板 夫人 太太 护士 院长 校长 局长 "
    "处长 科长 部长 同志"
)
# Characters that may follow a name without a title.
_AFTER_ZH = frozenset(
    "是说的在为和与及已于今因等年现有称将也向给了从去来要想女男先医曾被把对作任担就还都便正刚会"
)
_AFTER_SHORT_ZH = frozenset("是说为在和与已于因现称将也向给了曾被把对任担就还都")
_BEFORE_ZH = frozenset("经由和与给让找问请被向跟对是叫及同或将把称为生师人长任者")
_NOT_GIVEN = frozenset("的了是在吗呢吧啊呀么和与或及也都就还已")
# Where a transliterated name (约翰·史密斯) ends: a particle or a shop verb after it.
_NOT_IN_DOT_NAME = _AFTER_ZH | frozenset("买卖退换订下收发寄问付欢叫找看见听")
_DEMONSTRATIVES = frozenset("这那哪每各该此某几")
_DOT_NAME = re.compile(r"[\u4e00-\u9fff]{1,6}(?P<dot>[·・•])[\u4e00-\u9fff]{1,8}")
_SEP_ZH = re.compile(r"\s*[:：是为]?\s*")

_TITLES_EN = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Dame|Mister)\b\.?\s+", re.I)
_STRONG_CUES_EN = re.compile(
    r"\b(?:my name is|my name's|full name\s*[:：]?|recipient\s*[:：]?|"
    r"(?:(?<![A-Za-z] )(?<![A-Za-z])|(?:my|first|last|customer|billing|shipping|consignee|"
    r"receiver|buyer)\s)name\s*[:：]|"
    r"contact(?: person)?\s*[:：]|attn\.?\s*[:：]?|signed\s*[:：,]?|addressee\s*[:：]?)\s*"
    r"|(?:我叫|我的名字是|名字是|姓名[:：]?|收件人[:：]?)\s*",
    re.I,
)
_WEAK_CUES_EN = re.compile(r"\b(?:i am|i'm|this is|ship to|deliver to|call me)\s+", re.I)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Z]\.")
_PARTICLES = frozenset(word_list("de da del della di van von der den dos das du la le bin al st."))
_SUFFIXES_EN = frozenset(word_list("jr jr. sr sr. ii iii iv md phd ph.d. dds esq"))


class NameFinder:
    def __init__(self) -> None:
        sur = sections("surnames_zh.txt")
        self._sur_common = sur["common"] | sur["compound"]
        self._sur_all = self._sur_common | sur["cued"] | sur["compound_cued"]
        self._given = words("given_chars_zh.txt")
        self._not_names = words("not_names_zh.txt")
        self._sur_start = frozenset(s[0] for s in self._sur_all)
        self._cue_zh = re.compile(trie_regex(_CUES_ZH + _INTRO_ZH))
        self._title_zh = re.compile(trie_regex(_TITLES_ZH))
        self._first = frozenset(w.lower() for w in words("first_names_en.txt"))
        en = sections("not_surnames_en.txt")
        self._never = frozenset(w.lower() for w in en["never"])
        self._word_like = frozenset(w.lower() for w in en["word_like"])
        self._word_first = frozenset(w.lower() for w in en["word_like_first"])
        self.common_words = self._never | self._word_like | self._word_first

    def find(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        if any(is_cjk(ch) for ch in text):
            hits += self._find_zh(text)
        if any("A" <= ch <= "Z" or "a" <= ch <= "z" for ch in text):
            hits += self._find_en(text)
        return hits

    # -- Chinese ------------------------------------------------------------------------

    def _find_zh(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for m in _DOT_NAME.finditer(text):
            dot = m.start() + len(m.group().split(m.group("dot"))[0])
            start, end = dot, dot + 1
            while start > m.start() and text[start - 1] not in _NOT_IN_DOT_NAME:
                start -= 1
            while end < m.end() and text[end] not in _NOT_IN_DOT_NAME:
                end += 1
            if start < dot and end > dot + 1:
                hits.append(Hit(PiiType.NAME, start, end))
        for m in self._cue_zh.finditer(text):
            sep = _SEP_ZH.match(text, m.end())
            start = sep.end() if sep else m.end()
            loose = m.group() in _INTRO_ZH or bool(text[m.end() : start].strip())
            end = self._after_cue(text, start, loose=loose)
            if end:
                hits.append(Hit(PiiType.NAME, start, end))
        for m in self._title_zh.finditer(text):
            name_start = self._before_title(text, m.start(), m.group())
            if name_start is not None:
                hits.append(Hit(PiiType.NAME, name_start, m.start()))
        for i, ch in enumerate(text):
            if ch in self._sur_start:
                end = self._uncued(text, i)
                if end:
                    hits.append(Hit(PiiType.NAME, i, end))
        return hits

    def _surname_len(self, text: str, i: int, surnames: frozenset[str]) -> int:
        if text[i : i + 2] in surnames:
            return 2
        return 1 if text[i : i + 1] in surnames else 0

    def _after_cue(self, text: str, i: int, *, loose: bool) -> int:
        """End of surname + given name (1-2 characters) starting at i, or 0. With `loose`
        any characters make the given name, else name characters (or a title after)."""
        n = self._surname_len(text, i, self._sur_all)
        g = i + n
        if not n:
            return 0
        for size in (2, 1):
            given = text[g : g + size]
            if len(given) < size or not all(is_cjk(c) and c not in _NOT_GIVEN for c in given):
                continue
            after = g + size
            if self._title_zh.match(text, after) or all(c in self._given for c in given):
                return after
            if loose and (size == 1 or _ends_word(text, after, _AFTER_ZH)):
                return after
        return 0

    def _before_title(self, text: str, t: int, title: str) -> int | None:
        """Start of the name just before a title at t (the longest that reads as a name)."""
        for size in (3, 2, 1):
            s = t - size
            if s < 0:
                continue
            surnames = self._sur_common if size == 1 else self._sur_all
            n = self._surname_len(text, s, surnames)
            if not n or n > size or not all(c in self._given for c in text[s + n : t]):
                continue
            if text[s:t] + title in self._not_names:  # 帅哥
                continue
            if size > 1 or s == 0 or text[s - 1] not in _DEMONSTRATIVES:
                return s
        return None

    def _uncued(self, text: str, i: int) -> int:
        n = self._surname_len(text, i, self._sur_common)
        if not n or (i > 0 and is_cjk(text[i - 1]) and text[i - 1] not in _BEFORE_ZH):
            return 0
        if self._title_zh.fullmatch(text, i - 1, i + 1):  # 师傅刚刚: 傅 ends a title
            return 0
        g = i + n
        two = text[g : g + 2]
        if (
            len(two) == 2
            and all(c in self._given for c in two)
            and _ends_word(text, g + 2, _AFTER_ZH)
            and text[i : g + 2] not in self._not_names
        ):
            return g + 2
        sentence_start = i == 0 or not is_cjk(text[i - 1])
        if (
            text[g : g + 1] in self._given
            and sentence_start
            and _ends_word(text, g + 1, _AFTER_SHORT_ZH)
            and text[i : g + 1] not in self._not_names
        ):
            return g + 1
        return 0

    # -- English ------------------------------------------------------------------------

    def _find_en(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for m in _TITLES_EN.finditer(text):
            end = self._name_tokens(text, m.end(), any_case=False, need_first=False)
            if end:
                hits.append(Hit(PiiType.NAME, m.end(), end))
        for m in _STRONG_CUES_EN.finditer(text):
            end = self._name_tokens(text, m.end(), any_case=True, need_first=False)
            if end:
                hits.append(Hit(PiiType.NAME, m.end(), end))
        for m in _WEAK_CUES_EN.finditer(text):
            end = self._name_tokens(text, m.end(), any_case=False, need_first=True)
            if end:
                hits.append(Hit(PiiType.NAME, m.end(), end))
        tokens = list(_TOKEN.finditer(text))
        for k, tok in enumerate(tokens[:-1]):
            word = tok.group()
            if word[0].isupper() and word.lower() in self._first:
                end = self._surname_after(text, tokens, k)
                if end:
                    hits.append(Hit(PiiType.NAME, tok.start(), end))
        return hits

    def _name_tokens(self, text: str, pos: int, *, any_case: bool, need_first: bool) -> int:
        """End of 1-3 name words starting at pos, or 0."""
        end = 0
        count = 0
        for m in _TOKEN.finditer(text, pos):
            word, low = m.group(), m.group().lower()
            gap = text[end or pos : m.start()]
            if count == 3 or (count and gap != " ") or (not count and m.start() != pos):
                break
            if low in self._never or low in _SUFFIXES_EN or (low in _PARTICLES and not count):
                break
            if not (any_case or word[0].isupper() or low in _PARTICLES):
                break
            if need_first and not count and low not in self._first:
                return 0
            end = m.end()
            count += low not in _PARTICLES
        return end

    def _surname_after(self, text: str, tokens: list[re.Match[str]], k: int) -> int:
        first = tokens[k].group().lower()
        end = 0
        for nxt in tokens[k + 1 : k + 4]:
            prev_end = end or tokens[k].end()
            if text[prev_end : nxt.start()] != " ":
                break
            word, low = nxt.group(), nxt.group().lower()
            if low in _PARTICLES:
                continue
            if not word[0].isupper() or low in self._never or low in _SUFFIXES_EN:
                break
            if first in self._word_first and low in self._word_like:
                break
            end = nxt.end()
        return end


def _ends_word(text: str, j: int, after: frozenset[str]) -> bool:
    return j >= len(text) or not is_cjk(text[j]) or text[j] in after


def mentions_of(text: str, names: list[Hit], taken: Taken, *, skip: frozenset[str]) -> list[Hit]:
    """Other places where a found name, or one word of an English name, is written again
    ("Bobby JacksOn … Bobby has"); skips spans already taken and words in `skip`."""
    needles: set[str] = set()
    for h in names:
        value = text[h.start : h.end]
        if len(value) >= 2:
            needles.add(value)
        if value.isascii():
            parts = re.findall(r"[A-Za-z][A-Za-z'’-]+", value)
            needles.update(w for w in parts if len(w) >= 3 and w.lower() not in skip)
    hits: list[Hit] = []
    for needle in needles:
        ascii_word = needle.isascii()
        for m in re.finditer(re.escape(needle), text):
            s, e = m.span()
            if ascii_word and not _word_bounded(text, s, e):
                continue
            if taken.free(s, e):
                hits.append(Hit(PiiType.NAME, s, e))
                taken.take(s, e)
    return hits


def _word_bounded(text: str, s: int, e: int) -> bool:
    before = text[s - 1] if s else " "
    after = text[e] if e < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())
