"""Postal addresses in Chinese and English text.

Chinese: runs of administrative divisions from the gazetteer (`data/divisions_zh.txt`), each
one inside the previous one (江苏省南京市鼓楼区, 江苏南京), followed by a tail of streets,
numbers and buildings (中山北路1890号3栋502室). An address is two or more nested divisions,
or one division with a tail (a short name such as 中山 needs a street in its tail). A street
with a house number (文三路826号) is an address on its own, and so is what follows
"地址：". A single division name (我在北京) is not masked.

English: house number + street name + a street suffix (Street, Ave, Terrace, Walks …),
optional direction, unit (Apt. 5) and ", City, ST 12345"; "City, ST 12345"; P.O. boxes;
a zip or postal code after its cue word; what follows "address:" if it holds a digit.
"""

from __future__ import annotations

import re

from kefu.safety.pii_base import Hit, PiiType, is_cjk, word_list
from kefu.safety.pii_data import divisions, trie_regex, words

# Characters that end a Chinese address part: grammar words, pronouns, verbs around addresses.
_STOP = (
    "的了吗呢吧啊呀哦么几多少怎哪要能会想请帮给寄送是在有没不或与及并"
    "我你他她它们这那住址到往改成为于从被把将就都也还很太更最已经着等让叫可"
)
_NC = rf"[^\W_{_STOP}]"
_NUM = r"[0-9一二三四五六七八九十百零〇两]{1,6}"
_UNIT = r"(?:号楼|号院|号|栋|幢|座|单元|层|楼|室|户|弄|巷|期|区|排|组)"
_SUFFIXES = word_list(
    "路 街 大街 大道 巷 胡同 弄 街道 村 屯 镇 乡 社区 小区 花园 家园 公寓 大厦 大楼 广场 中心 "
    "新村 新区 开发区 工业园 工业区 园区 园 苑 庄 公馆 院 湾 城 县 区 市 旗 府 楼 座 里"
)
_STREET_WORDS = re.compile(r"路|街|道|巷|弄|胡同|村|屯|镇|乡|小区|花园|苑|大厦|广场|园")
_SEG = (
    rf"(?:{_NC}{{1,12}}(?:{trie_regex(_SUFFIXES)})|[A-Za-z]?{_NUM}[A-Za-z]?(?:-{_NUM})?{_UNIT}"
    r"|(?<=[栋幢座元楼层号])[A-Za-z]?\d{2,5}(?![0-9]))"  # a room number after 5栋 / 1单元
)
_TAIL = re.compile(rf"(?:{_SEG})+")
# A street with a house number anchors an address without any division before it.
_STREET_NO = re.compile(rf"(?:路|街|大道|街道|巷|胡同|弄){_NUM}(?:号|弄)")
_CUE_ZH = re.compile(
    r"(?:地址|住址)(?:是|为|改成|改为|换成|变成|改到)?\s*(?P<colon>[:：])?\s*"
    r"(?P<run>[^\s，。,;；:：!！?？、()（）\[\]【】<>]{2,40})"
)
_RUN_END = re.compile(
    r"[0-9A-Za-z路街道巷弄同村屯镇乡区园苑庄院湾城县市旗府楼座里号栋幢层室户期组排]"
)

_DIR = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
_UNIT_EN = (
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Rm|Room|Floor|Fl|Bldg|Building|#)\.?\s*#?\s*"
    r"[A-Za-z0-9-]{1,6})"
)
_LOWER_OK = frozenset(
    word_list(
        "street st road rd avenue ave drive dr lane ln boulevard blvd court ct place pl way "
        "terrace highway hwy parkway pkwy circle cir square sq"
    )
)
_NOT_STREET_WORDS = word_list(
    "the a an of to in on for my your his her our their this that and or but with from by at "
    "as is are was were be it its i you we they me days day hours weeks months years times "
    "items pieces pcs pairs units gb tb mb usb inch inches hard flash external more less than "
    "about only just all each per"
)
# A street-name word: capitalised or not, an ordinal, never a grammar or unit word.
_WORD_EN = (
    rf"(?!(?:{'|'.join(_NOT_STREET_WORDS)})\s)"
    r"(?:[A-Za-z][A-Za-z'’-]*|[A-Z]\.|\d{1,4}(?:st|nd|rd|th))"
)


class AddressFinder:
    """Finds addresses; built once (gazetteer regexes), then `find` costs a few regex scans."""

    def __init__(self) -> None:
        div = divisions()
        self._forms = div.forms
        self._ancestors = div.ancestors
        self._short = div.short_forms
        self._admin = re.compile(trie_regex(div.forms))
        suffix = trie_regex(w.lower() for w in words("street_suffixes_en.txt"))
        self._street = re.compile(
            rf"(?<![A-Za-z0-9.,$¥-])(?P<num>\d{{1,6}}[A-Za-z]?(?:-\d{{1,5}})?)\s+(?:{_DIR}\s+)?"
            rf"(?P<name>(?:The\s+)?(?:{_WORD_EN}\s+){{0,3}})"
            rf"(?P<suffix>{suffix})\.?(?:\s+{_DIR})?(?![A-Za-z0-9]){_UNIT_EN}?",
            re.IGNORECASE,
        )
        self._via = re.compile(
            r"(?<![A-Za-z0-9])\d{1,6}\s+(?:Via|Calle|Camino|Avenida|Rue|Avenue of the)\s+"
            r"[A-Z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'-]+)?"
        )
        states = [line.split(maxsplit=1) for line in _state_lines()]
        abbr = "|".join(s[0] for s in states)
        names = "|".join(re.escape(s[1]) for s in states)
        self._city_tail = re.compile(
            rf"(?:,\s*(?:[A-Z][A-Za-z'.-]+\s){{0,2}}[A-Z][A-Za-z'.-]+)?(?:,\s*|\s+)"
            rf"(?:(?:{abbr})\b|{names})(?:\s+\d{{5}}(?:-\d{{4}})?)?(?![A-Za-z0-9])"
            r"|(?:,\s*(?:[A-Z][A-Za-z'.-]+\s){0,2}[A-Z][A-Za-z'.-]+)?,?\s+\d{5}(?:-\d{4})?(?![A-Za-z0-9])"
        )
        self._city_state_zip = re.compile(
            rf"(?<![A-Za-z])(?:[A-Z][a-z]+\s){{0,2}}[A-Z][a-z]+,\s*(?:{abbr})\s+\d{{5}}(?:-\d{{4}})?(?!\d)"
        )
        self._others = re.compile(
            r"(?<![A-Za-z])P\.?\s?O\.?\s?Box\s+\d{1,6}"
            r"|(?:zip(?:\s*code)?|postal\s*code|post\s*code|postcode|邮编|邮政编码)\s*(?:is|:|：|是|为)?\s*"
            r"(?P<zip>\d{5}(?:-\d{4})?|\d{6})(?!\d)"
            r"|(?<![Ee]mail )(?<![Ee]-mail )(?<!IP )(?<!web )"
            r"(?:address|ship(?:ping)?\s+to|deliver\s+to)\s*(?:is|:)\s*(?P<run>[^\n.;!?]{4,80})",
            re.IGNORECASE,
        )

    def find(self, text: str) -> list[Hit]:
        hits = self._find_en(text) if _has_ascii_digit(text) else []
        if any(is_cjk(ch) for ch in text):
            hits += self._find_zh(text)
        return hits

    # -- Chinese ------------------------------------------------------------------------

    def _find_zh(self, text: str) -> list[Hit]:
        hits = self._chains(text)
        for m in _STREET_NO.finditer(text):
            start = m.start()
            while start > 0 and m.start() - start < 12 and _is_nc(text[start - 1]):
                start -= 1
            if start < m.start():
                tail = _TAIL.match(text, m.end())
                hits.append(Hit(PiiType.ADDRESS, start, tail.end() if tail else m.end()))
        for m in _CUE_ZH.finditer(text):
            run = m.group("run")
            cut = next((i for i, ch in enumerate(run) if ch in _STOP), len(run))
            last = [i for i, ch in enumerate(run[:cut]) if _RUN_END.match(ch)]
            if last and (m.group("colon") or any(c.isdigit() for c in run[:cut]) or len(last) > 1):
                hits.append(Hit(PiiType.ADDRESS, m.start("run"), m.start("run") + last[-1] + 1))
        return hits

    def _chains(self, text: str) -> list[Hit]:
        mentions = list(self._admin.finditer(text))
        hits: list[Hit] = []
        i = 0
        while i < len(mentions):
            first = mentions[i]
            names = self._forms[first.group()]
            end, levels, short_only = first.end(), 1, first.group() in self._short
            j = i + 1
            while j < len(mentions) and not text[end : mentions[j].start()].strip():
                nxt = mentions[j]
                inside = frozenset(
                    n for n in self._forms[nxt.group()] if self._ancestors[n] & names
                )
                if not inside:
                    break
                names, end, levels = inside, nxt.end(), levels + 1
                short_only = short_only and nxt.group() in self._short
                j += 1
            tail = _TAIL.match(text, end)
            tail_text = tail.group() if tail else ""
            street = _STREET_WORDS.search(tail_text) is not None
            if levels >= 2 or (tail_text and (street or not short_only)):
                end = end + len(tail_text)
                hits.append(Hit(PiiType.ADDRESS, first.start(), end))
                while j < len(mentions) and mentions[j].start() < end:
                    j += 1
            i = j
        return hits

    # -- English ------------------------------------------------------------------------

    def _find_en(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for found in [*self._street.finditer(text), *self._via.finditer(text)]:
            m: re.Match[str] | None = found
            while m is not None and "suffix" in m.re.groupindex and not _plausible_street(m):
                m = self._street.match(text, m.start(), m.end() - 1)  # a shorter reading
            if m is None:
                continue
            end = m.end()
            while text[end - 1] in ".,":
                end -= 1
            tail = self._city_tail.match(text, end)
            hits.append(Hit(PiiType.ADDRESS, m.start(), tail.end() if tail else end))
        hits += [Hit(PiiType.ADDRESS, *m.span()) for m in self._city_state_zip.finditer(text)]
        for m in self._others.finditer(text):
            if m.group("zip"):
                hits.append(Hit(PiiType.ADDRESS, *m.span("zip")))
            elif m.group("run"):
                if any(c.isdigit() for c in m.group("run")):
                    hits.append(Hit(PiiType.ADDRESS, *m.span("run")))
            else:
                hits.append(Hit(PiiType.ADDRESS, *m.span()))
        return hits


def _plausible_street(m: re.Match[str]) -> bool:
    """Rejects "2 days on the way" and "64 GB USB Drive": lower-case street names need a
    common suffix and no grammar words; unit words never make a street name."""
    name_words = m.group("name").split()
    if name_words[:1] == ["the"]:
        return False
    suffix = m.group("suffix")
    lower_case = any(w[0].islower() for w in name_words) or suffix[0].islower()
    return not lower_case or (suffix.lower() in _LOWER_OK and bool(name_words))


def _is_nc(ch: str) -> bool:
    return (is_cjk(ch) or (ch.isascii() and ch.isalnum())) and ch not in _STOP


def _has_ascii_digit(text: str) -> bool:
    return any("0" <= ch <= "9" for ch in text)


def _state_lines() -> list[str]:
    from importlib import resources

    text = resources.files("kefu.safety").joinpath("data", "us_states.txt").read_text("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
