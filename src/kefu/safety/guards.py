"""Input guard (prompt injection, jailbreak, prompt leak, other customers' data, threats,
harmful how-tos) and output guard (forbidden content, PII leaks, system-prompt leaks), plus
the grounding check for LLM answers.

The input guard is two cheap layers and an optional third:
1. high-precision regular expressions (zh + en) over several views of the text: normalised,
   spaced-out letters joined, leetspeak undone, reversed, and decoded base64 / hex / %xx /
   rot13 payloads;
2. kNN over sentence embeddings: the message is compared with kefu's own attack examples
   and with benign anchors (hard negatives such as angry complaints, plus the default intent
   examples); it is flagged only when it is near an attack *and* clearly nearer to attacks
   than to anything benign. Pass the vector the NLU classifier already computed for
   `normalize(text)` and this layer costs a few hundred microseconds;
3. `llm_guard`, an optional async callable (a moderation model, Llama-Guard-style prompt)
   consulted by `acheck` for messages the fast layers let through.

Swearing at the service is not an attack: "你们什么垃圾服务，退钱！" is a complaint and must get
the normal flow. Only threats of violence and hate against people count as `abuse`.
Which rule fired goes to `GuardVerdict.reason` for logs and metrics, never to the customer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import logging
import re
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram

from kefu.nlu.base import Embedder, Vectors
from kefu.nlu.normalize import normalize, strip_emoji, to_simplified

log = logging.getLogger(__name__)

PiiFinder = Callable[[str], list[tuple[str, str]]]


class GuardCategory(StrEnum):
    OK = "ok"
    # input
    INJECTION = "injection"
    JAILBREAK = "jailbreak"
    PROMPT_LEAK = "prompt_leak"  # also output: the reply quotes the system prompt
    OTHER_CUSTOMER_DATA = "other_customer_data"
    ABUSE = "abuse"  # threats and hate against people; not swearing at the service
    HARMFUL = "harmful"
    # output
    COMPETITOR = "competitor"
    PROMISE = "promise"
    POLITICAL = "political"
    ABUSIVE = "abusive"
    PII_LEAK = "pii_leak"


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """`reason` names the rule or neighbour that decided: for logs, never for the customer."""

    allowed: bool
    category: str
    score: float
    reason: str


OK_VERDICT = GuardVerdict(True, GuardCategory.OK, 0.0, "")

LlmGuard = Callable[[str], Awaitable[GuardVerdict]]


@dataclass(frozen=True, slots=True, kw_only=True)
class SemanticThresholds:
    """Flag when the mean similarity of the `k` nearest attack examples is at least
    `min_similarity` and exceeds the nearest benign anchor's similarity by `min_margin`."""

    min_similarity: float
    min_margin: float
    k: int = 1

    def __post_init__(self) -> None:
        if not -1.0 <= self.min_similarity <= 1.0 or self.k < 1:
            raise ValueError("min_similarity must be in [-1, 1] and k at least 1")


# Fitted by `python bench/guard_fpr.py --fit`: 5-fold cross-validation on kefu's own examples
# in guard_data/ (attack folds grouped so that an English line and its Chinese counterpart
# never sit on both sides; negatives are benign_hard_* and the default intent examples).
# Rule, fixed before any evaluation: the highest out-of-fold attack recall with <= 0.1 % of
# the intent examples and <= 1.5 % of the hard negatives flagged; then, among points within
# 0.02 recall of it, the largest margin and similarity. Out of fold: semantic recall 0.45
# (0.72 together with the rules, which were written on the same examples, so in-sample);
# hard negatives flagged 1.3 %, intent examples 0 %.
INPUT_THRESHOLDS = SemanticThresholds(min_similarity=0.43, min_margin=0.02, k=3)
# The same script, leave-one-out over output_forbidden.yaml's examples: the best recall with
# no benign reply flagged, then the largest margin within 0.1 recall of it (recall 0.75).
OUTPUT_THRESHOLDS = SemanticThresholds(min_similarity=0.51, min_margin=0.10, k=1)

# Messages longer than one embedding window (the encoder reads 256 characters) are also
# embedded in up to this many further windows, so an attack cannot hide behind a long preamble.
LONG_TEXT_WINDOWS = 3
WINDOW_CHARS = 240
WINDOW_OVERLAP = 40
_MAX_GUARD_CHARS = 20_000
# A reply sharing this many consecutive tokens (CJK characters count one each) with a secret
# text (the system prompt) quotes it.
PROMPT_LEAK_RUN = 12


# --------------------------------------------------------------------------- data files


def _data(name: str) -> str:
    return resources.files("kefu.safety").joinpath(f"guard_data/{name}").read_text("utf-8")


def parse_examples(text: str, *, default_category: str = "") -> list[tuple[str, str]]:
    """`## category` section headers, `#` comments, one example per other line."""
    out: list[tuple[str, str]] = []
    category = default_category
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            category = line[3:].strip()
        elif line and not line.startswith("#"):
            out.append((category, line))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardExamples:
    attacks: tuple[tuple[str, str], ...]  # (category, text)
    benign: tuple[str, ...]


@lru_cache(maxsize=2)
def load_guard_examples(*, with_intent_examples: bool = True) -> GuardExamples:
    """The shipped examples; the benign anchors include the default intent examples."""
    attacks = [
        (c, t)
        for lang in ("en", "zh")
        for c, t in parse_examples(_data(f"attack_patterns_{lang}.txt"))
    ]
    for c, _ in attacks:
        GuardCategory(c)  # a typo in a section header fails here, not silently
    benign = [
        t for lang in ("en", "zh") for _, t in parse_examples(_data(f"benign_hard_{lang}.txt"))
    ]
    if with_intent_examples:
        from kefu.nlu.examples import default_examples

        benign.extend(e.text for e in default_examples())
    return GuardExamples(attacks=tuple(attacks), benign=tuple(benign))


@lru_cache(maxsize=1)
def _replies() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(_data("replies.yaml"))
    return {lang: {str(k): str(v) for k, v in d.items()} for lang, d in data.items()}


def refusal_text(category: str, lang: str) -> str:
    """The calm reply for a stopped message (or, with category "output", a stopped reply)."""
    texts = _replies().get(lang) or _replies()["zh"]
    return texts.get(category) or texts["input"]


class GuardMetrics:
    """`kefu_safety_guard_blocks_total{guard,category}` and `kefu_safety_guard_seconds{guard}`
    on the app's registry (pass `Metrics.registry`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.blocks = Counter(
            "kefu_safety_guard_blocks",
            "Messages (input) or replies (output) a guard stopped, by category",
            ["guard", "category"],
            registry=registry,
        )
        self.seconds = Histogram(
            "kefu_safety_guard_seconds",
            "Time spent in a guard check",
            ["guard"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25),
            registry=registry,
        )

    def observe(self, guard: str, verdict: GuardVerdict, seconds: float) -> None:
        self.seconds.labels(guard).observe(seconds)
        if not verdict.allowed:
            self.blocks.labels(guard, verdict.category).inc()


# ------------------------------------------------------------------------ normalisation

_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
# Latin look-alikes from Cyrillic and Greek (NFKC leaves them alone).
_CONFUSABLES = str.maketrans("аеорсухіјѕԁɡοαειντρκ", "aeopcyxijsdgoaeivtpk")
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_TOKEN = re.compile(r"\S*(?:[a-z][013457@$]|[013457@$][a-z])\S*")
_SPACE = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")
# Four or more single letters, or CJK characters, split by separators: "i g n o r e", "忽.略.以".
_SPLIT_HINT = re.compile(
    r"(?:\b[a-z][\W_]+){3,}[a-z]\b|(?:[\u3400-\u9fff][^\w\s]+){3,}[\u3400-\u9fff]"
)
_NON_WORD = re.compile(r"[\W_]+")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_\-]{24,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){10,}\b")
_PCT = re.compile(r"(?:%[0-9a-fA-F]{2}){3,}")
_ROT13_HINT = re.compile(r"rot[\s\-_]?13")


def guard_normalize(text: str) -> str:
    """Full width to half width, invisible characters removed, look-alikes folded, simplified
    Chinese, lower case, spaces collapsed. Longer inputs than `normalize` accepts."""
    t = text[:_MAX_GUARD_CHARS].encode("utf-8", "replace").decode("utf-8")
    t = _INVISIBLE.sub("", t)
    t = unicodedata.normalize("NFKC", t).lower().translate(_CONFUSABLES)
    t = to_simplified(strip_emoji(t))
    return _CJK_GAP.sub("", _SPACE.sub(" ", t).strip())


def _printable(raw: bytes) -> str | None:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    good = sum(ch.isprintable() or ch.isspace() for ch in s)
    return s if len(s) >= 6 and good >= 0.9 * len(s) and any(c.isalpha() for c in s) else None


def decoded_payloads(text: str) -> list[str]:
    """Text hidden as base64, hex, %-escapes or rot13 (at most four payloads, cheap)."""
    out: list[str] = []
    for m in _B64.finditer(text[:_MAX_GUARD_CHARS]):
        tok = m.group(0)
        if tok.isdigit() or (tok.isalpha() and (tok.islower() or tok.isupper())):
            continue  # an order number or a plain word, not base64
        try:
            alt = "-_" if ("-" in tok or "_" in tok) else None
            raw = base64.b64decode(tok + "=" * (-len(tok) % 4), altchars=alt and b"-_")
        except (binascii.Error, ValueError):
            continue
        if (s := _printable(raw)) is not None:
            out.append(s)
    for m in _HEX.finditer(text[:_MAX_GUARD_CHARS]):
        digits = re.sub(r"[\s:]", "", m.group(0))
        if len(digits) % 2 == 0 and (s := _printable(bytes.fromhex(digits))) is not None:
            out.append(s)
    if _PCT.search(text):
        out.append(urllib.parse.unquote(text))
    if _ROT13_HINT.search(text.lower()):
        out.append(codecs.decode(text, "rot13"))
    return out[:4]


def text_views(text: str) -> list[tuple[str, str]]:
    """(view name, normalised text) pairs the rules are searched in; the first is plain."""
    norm = guard_normalize(text)
    views = [("plain", norm)]
    if _LEET_TOKEN.search(norm):
        views.append(("leet", _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), norm)))
    if _SPLIT_HINT.search(norm):
        views.append(("split", _NON_WORD.sub("", norm)))
    views.append(("reversed", norm[::-1]))
    views.extend(("decoded", guard_normalize(p)) for p in decoded_payloads(text))
    return views


# --------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class _Rule:
    category: GuardCategory
    name: str  # zh_* rules also run on the view without separators, compact_* only there
    pattern: re.Pattern[str]
    also: re.Pattern[str] | None  # must match the same view too


def _any(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# fmt: off
# (the rule table is laid out by hand: one piece or rule per few lines)
_I, _J, _L = GuardCategory.INJECTION, GuardCategory.JAILBREAK, GuardCategory.PROMPT_LEAK
_D, _A, _H = GuardCategory.OTHER_CUSTOMER_DATA, GuardCategory.ABUSE, GuardCategory.HARMFUL
_NOT_END = r"[^.!?。！？\n]"
# English pieces
_QUAL = _any(
    "all", "any", "the", "your", "of", "these", "those", "every", "previous", "prior",
    "preceding", "above", "earlier", "initial", "original", "old", "existing", "system",
    "safety", "content", "shop'?s?", "store'?s?",
)
_RULE_NOUN = _any(
    r"instructions?", "rules", r"prompts?", "directives", "guidelines", "programming",
    "restrictions", "constraints", "polic(?:y|ies)", "filters", "guardrails", "settings",
)
_STRONG_QUAL = (
    r"\b(?:all|any|previous|prior|preceding|above|earlier|initial|original|system|safety"
    r"|your|content)\s"
)
_YOU_BOT = r"\b(?:you|your|ai|assistant|model|chatbot|bot|gpt|qwen|llm)\b"
_FREE_OF = _any(
    "without", "with no", "free (?:of|from)", "no longer bound by", "not bound by",
    "freed from", "broken free of", "ignores?",
)
_LIMITS = _any(
    "restrictions", "filters", "content polic(?:y|ies)", "guidelines", "ethics", "ethical",
    "morals?", "morality", "censorship", "limitations", "rules", "limits",
)
_MODES = _any(
    "jailbreak", "jailbroken", "dan", "god", "unrestricted", "unfiltered", "uncensored", "evil",
    "opposite", "sudo", "dude", r"no[\s-]?limits?",
)
_PEOPLE = _any("customer", "user", "buyer", "member", "client", "shopper", "people", "person")
# "customer service", "user account": the shop's desk and the customer's own account.
_NOT_DESK = r"(?!\s+(?:service|support|care|cent(?:er|re)|team|desk|rep|accounts?)\b)"
_OTHERS = _any(
    "another", "other", "different", "someone else'?s?", "somebody else'?s?",
    "all (?:of )?(?:the |your )?", "every", "the other",
)
_EN_DATA = _any(
    r"address(?:es)?", "phone", "numbers?", "emails?", "orders?", "details", "data", "info",
    "information", "names?", "cards?", "accounts?", "history", "records?",
)
_EN_ASK = (
    r"\b(?:give|tell|show|send|list|export|find|look\s?up|check|what'?s|what is|need|want"
    r"|get|print|read|dump)\b"
)
_WILL = _any(
    "will", "'ll", "ll", "am going to", "'m going to", "m going to", "am gonna", "'m gonna",
    "gonna", "shall", "want to", "wanna",
)
_HURT = _any(
    "kill", "murder", "stab", "shoot", "strangle", "behead", "rape", "hunt down", "beat up",
    "beat", "hurt", "torture",
)
_PERSON = _any(
    "you", "u", "him", "her", "them", "someone", "people", "everyone", "anyone",
    "(?:the|your|every|the next|any) (?:staff|employees?|courier|delivery (?:guy|man|driver)"
    "|agents?|manager|boss|owner|person|family|kids)",
)
_WRECK = _any("bomb", "blow up", "burn down", "shoot up", "set fire to", "torch")
_PLACE = r"(?:your|the|this) (?:office|store|shop|warehouse|company|building|house|home|place)"
_HOW_TO = _any(
    "how (?:do i|to|can i|could i|would i)", "teach me (?:to|how)", "steps to",
    "instructions (?:for|to)", "help me", "recipe for",
)
_MAKE = _any("make", "build", "cook", "synthesi[sz]e", "create", "produce", "brew", "assemble")
_WEAPON_DRUG = _any(
    "bomb", r"explosives?", "meth", "methamphetamine", "cocaine", "heroin", "fentanyl",
    "poison", "nerve agent", "napalm", "pipe bomb", "molotov", "gun", "firearm", "silencer",
    "ricin",
)
# Chinese pieces
_ZH_DROP = _any(
    "忽略", "无视", "忘记", "忘掉", "不要理会", "别理会", "别管", "不用管", "抛开", "丢掉", "覆盖",
    "绕过", "跳过",
)
_ZH_WHICH = _any(
    "以上", "上面", "之前", "前面", "先前", "此前", "原来", "原先", "原有", "所有", "全部", "一切",
    "你的", "系统", "店铺", "安全",
)
_ZH_RULES = _any(
    "指令", "指示", "规则", "提示词?", "设定", "设置", "限制", "约束", "规定", "命令", "程序",
    "政策", "要求",
)
_ZH_BOSS = _any(
    "开发者", "开发人员", "管理员", "工程师", "创造者", "老板", "店主", "系统管理员", "超级管理员",
    "总部的?",
)
_ZH_OTHERS = _any(
    "其他", "别的", "其它", "另一个", "另外的?", "所有", "全部", "别人", "他人", "陌生人", "邻居",
    "前任", "前女友", "前男友",
)
_ZH_PEOPLE = "(?:客户|用户|顾客|买家|会员)"
_ZH_DATA = _any(
    "地址", "电话", "手机号?", "号码", "订单", "信息", "资料", "数据", "身份证", "邮箱", "姓名",
    "名字", "名单", "银行卡", "卡号", "账户", "账号", "记录",
)
_ZH_ASK = r"给我|发我|发给我|告诉|查|看|列出|导出|提供|打印|要|找"
_ZH_KILL = _any(
    "杀了", "杀死", "弄死", "砍死", "捅死", "打死", "炸了", "炸掉", "烧了", "宰了", "做掉", "砍",
)
_ZH_TARGET = r"(?:你|他|她|那个|你家|你全家|你们)"
_ZH_HARM = _any(
    "炸弹", "炸药", "毒品", "冰毒", "海洛因", "毒药", "雷管", "燃烧瓶", "(?<![水玩具气])枪"
)

_RULE_TABLE: tuple[tuple[GuardCategory, str, str, str], ...] = (
    # ---- injection
    (_I, "en_ignore_rules", rf"\b(?:ignore|disregard|forget|bypass|override|overrule|abandon"
        rf"|discard|drop)\s+(?:{_QUAL}\s+){{1,4}}{_RULE_NOUN}\b", _STRONG_QUAL),
    (_I, "en_ignore_above", r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|the\s+)?"
        r"(?:instructions?|text|rules|everything|all|prompts?)\s+(?:above|before this|so far"
        r"|you were given)", ""),
    (_I, "en_forget_told", r"\bforget\s+(?:everything|all)\s+(?:you\s+(?:were|have been"
        r"|'ve been)\s+told|above|before)", ""),
    (_I, "en_role_marker", r"<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)"
        r"\|?>|\[/?(?:system|inst|sys)\]|#{2,}\s*(?:system|instruction)s?\b"
        r"|\bbegin\s+(?:system|admin)\s+(?:prompt|message|instructions)", ""),
    (_I, "en_new_prompt", r"\b(?:new|updated|real|revised)\s+system\s+(?:prompt|instructions?"
        r"|message)|\bend of (?:the )?system prompt", ""),
    (_I, "en_obey_me", r"\bfrom now on,?\s+(?:you\s+)?(?:will\s+|must\s+|shall\s+)?(?:only\s+)?"
        r"(?:obey|follow|do whatever|listen to)\s+(?:me|my)\b", ""),
    (_I, "en_authority", r"\b(?:i am|i'm|im|this is)\s+(?:your|the|an?)\s+(?:developer|creator"
        r"|admin|administrator|sysadmin|system administrator|shop owner|store owner|ceo"
        r"|operator|programmer)\b", r"\b(?:authori[sz]e|order you|command you|approve|bypass"
        r"|skip|override|disable|grant|mark (?:it|my|the)|without (?:verif|return|check"
        r"|any check))"),
    (_I, "en_as_system", r"\btreat (?:my|this|the following) (?:message|text|input) as (?:coming "
        r"from )?(?:the |a )?(?:system|developer|admin)|\b(?:developer|admin) (?:note|override"
        r"|message)\s*:|\byour (?:configuration|instructions|rules|programming|prompt) (?:has|have)"
        r" (?:just )?(?:been )?(?:updated|changed|reset|overridden|replaced)", ""),
    (_I, "en_say_only", r"\b(?:respond|reply|answer|say)\s+(?:only\s+)?(?:with\s+)?[\"“']"
        r"[^\"”']{2,60}"
        r"[\"”']\s*,?\s*and nothing else\b|\b(?:respond|reply) only with [\"“']", ""),
    (_I, "en_decode_follow", rf"\b(?:decode|decrypt|reverse|translate|base64|rot13)\b"
        rf"{_NOT_END}{{0,60}}\b(?:follow|obey|execute|carry out|do what it says"
        rf"|do as it says|instructions? inside)\b", ""),
    (_I, "zh_ignore_rules", rf"{_ZH_DROP}(?:掉|了)?你?{_ZH_WHICH}的?(?:所有|全部|一切)?的?"
        rf"{_ZH_RULES}", ""),
    (_I, "zh_obey_me", r"从现在(?:开始|起)[,，]?你?(?:只|就)?(?:要|必须|需要|只能)?(?:听|服从|遵从"
        r"|执行)我", ""),
    (_I, "zh_new_prompt", r"(?:新的?|最新的?|更新后的?)(?:系统)?(?:指令|提示词|system prompt)[:：]"
        r"|系统提示词?结束|(?:以下|下面)(?:内容|的话)?(?:均|都)?(?:为|是)系统(?:指令|消息)", ""),
    (_I, "zh_authority", rf"(?:我是|我就是|这里是|本人是)(?:你的|你们的)?{_ZH_BOSS}",
        r"授权|命令你|批准|跳过|绕过|关闭|不用验证|直接(?:给我)?退|权限|标记|改成"),
    (_I, "zh_as_system", r"(?:当作|当成|视为)系统(?:指令|消息|命令)"
        r"|(?:开发者|管理员)(?:备注|指令|通知)[:：]"
        r"|你的(?:配置|指令|规则|设定)(?:已经|已)?(?:被)?(?:更新|修改|重置|改变|作废|替换)"
        r"|只(?:回复|回答|输出)[\"“「][^\"”」]{2,30}[\"”」]", ""),
    (_I, "zh_decode_follow", r"(?:解码|解密|base64|rot13|倒过来|反过来|翻译)[^。！？!?]{0,30}"
        r"(?:照做|执行|照着|按.{0,4}做|服从)", ""),
    # ---- jailbreak
    (_J, "en_dan", r"\bdo anything now\b|\b(?:you are|you're|as|be|pretend to be|act as)\s+"
        r"(?:now\s+)?dan\b|\bjailbr(?:eak|oken)\s+(?:prompt|yourself|you|self|version|ai"
        r"|assistant|bot|model)\b", ""),
    (_J, "en_mode", rf"\b{_MODES}\s+mode\b", ""),
    # Phones and routers have such modes too: only when the bot is told to be in one.
    (_J, "en_dev_mode", r"\b(?:developer|debug|god)\s+mode\b", r"\byou (?:are|'re|will|can|must"
        r"|now)\b|\bsimulate\b|\b(?:chatgpt|gpt|qwen|assistant|ai)\b|\brespon(?:d|se)s?\b|mode\s*:"),
    (_J, "en_no_rules_ai", rf"\b{_FREE_OF}\b{_NOT_END}{{0,30}}\b{_LIMITS}\b", _YOU_BOT),
    (_J, "en_unrestricted_ai", r"\b(?:unrestricted|unfiltered|uncensored|jailbroken|amoral"
        r"|unethical|rogue)\s+(?:ai|assistant|(?:language )?model|bot|chatbot|version|llm)\b", ""),
    (_J, "en_character", r"\bstay in character\b|\bbreak character\b|\bnever refuse\b", ""),
    # Phones have a developer mode too ("开发者模式打开后闪退"): only when it is switched on
    # for the bot or comes with its limits.
    (_J, "zh_mode", r"(?:越狱|无限制|无过滤|上帝|dan|超级用户|邪恶)模式|越狱版"
        r"|解除(?:你的)?(?:所有|全部|一切)?的?限制|你(?:现在)?(?:是|就是|扮演|成为) ?dan(?![a-z])"
        r"|保持(?:角色|人设)|不要出戏|别出戏|(?:规定|规则)[^。！？!?]{0,10}反着(?:说|做|来)", ""),
    (_J, "zh_dev_mode", r"(?:开启|进入|启用|激活|切换到?)了?(?:开发者|调试|管理员)模式"
        r"|(?:开发者|调试|管理员)模式(?:已经?)?(?:启用|开启|激活)",
        r"你(?!们)|回答|回复|限制|规则|已启用|已开启"),
    (_J, "zh_no_rules_ai", r"(?:没有|不受|摆脱|不用遵守|不再受)[^。！？!?]{0,8}"
        r"(?:限制|约束|规则|束缚"
        r"|道德|审查|过滤)", r"ai|人工智能|机器人|模型|助手"),
    (_J, "zh_pretend_free", r"(?:假装|扮演|你现在是|你是)[^。！？!?]{0,12}(?:没有|不受|无)(?:任何)?"
        r"(?:限制|约束|规则|道德|审查)", ""),
    # ---- prompt leak
    (_L, "en_system_prompt", r"\bsystem\s+prompt\b|\b(?:your|ur)\s+(?:system|initial|original"
        r"|hidden|secret|internal|developer|pre-?set|confidential)\s+(?:prompt|instructions?"
        r"|message|configuration|rules|guidelines)\b", ""),
    (_L, "en_repeat_above", rf"\b(?:repeat|print|output|show|display|copy|echo|dump)\b"
        rf"{_NOT_END}{{0,20}}\b(?:everything|all|the text|the words|what is written|the message"
        rf"|your instructions)\b{_NOT_END}{{0,12}}\b(?:above|before this)\b", ""),
    (_L, "en_verbatim", rf"\b(?:prompt|instructions|guidelines|rules)\b{_NOT_END}{{0,20}}"
        rf"\b(?:verbatim|word for word|letter by letter|one letter at a time)\b"
        rf"|\bwhat (?:were|was) you told\b|\bdump your (?:context|memory)\b", ""),
    (_L, "en_tools_dump", r"\b(?:tools|functions) (?:you can call|you have|available to you)\b"
        r"|\bjson schema\b|\byour (?:initial |original )?(?:instructions|prompt)\b"
        r"[^.!?]{0,20}\b(?:code block|first \d+ (?:words|lines|characters))"
        r"|\b(?:code block|first \d+ (?:words|lines|characters))\b[^.!?]{0,20}\byour "
        r"(?:initial |original )?(?:instructions|prompt)\b", ""),
    (_L, "zh_system_prompt", r"(?:系统|初始|原始|隐藏|预设|内部)(?:提示词|提示语|prompt|指令)"
        r"|system ?message|(?:提示词|prompt)(?:模板|原文)", ""),
    (_L, "zh_your_prompt", r"你的(?:提示词|提示语|prompt|初始设定|设定|指令|规则原文|系统提示"
        r"|配置)",
        r"是什么|发|给我|输出|告诉|复述|重复|念|打印|贴|看|显示|原样|翻译|总结|写了什么"),
    (_L, "zh_repeat_above", r"(?:输出|打印|复述|重复|显示|原样)[^。！？!?]{0,6}(?:上面|以上|前面"
        r"|之前|开头)[^。！？!?]{0,6}(?:所有|全部|原样|一字不差|逐字)"
        r"|(?:所有|全部)(?:内容|文字)?都?(?:输出|打印)"
        r"|(?:对话|聊天)(?:之前|开始前|开头)[^。！？!?]{0,12}(?:说了什么|跟你说|告诉你|隐藏)"
        r"|(?:能|可以|可)调用的?(?:工具|函数)", ""),
    # ---- other customers' data
    (_D, "en_other_customer", rf"\b{_OTHERS}\s+{_PEOPLE}(?:'s|s'|s?\b{_NOT_DESK})"
        rf"{_NOT_END}{{0,30}}\b{_EN_DATA}\b", _EN_ASK),
    (_D, "en_data_of_others", rf"\b{_EN_DATA}\b{_NOT_END}{{0,20}}\bof\s+{_OTHERS}\s+{_PEOPLE}"
        rf"s?\b{_NOT_DESK}", _EN_ASK),
    (_D, "en_who_bought", r"\bwho (?:bought|placed|ordered|purchased)\b[^.!?]{0,30}\b(?:names?"
        r"|address(?:es)?|phone|emails?|where (?:it|they) (?:is|are) going)|\b(?:everyone"
        r"|everybody|all (?:the )?(?:people|customers|buyers|users))\s+(?:who|that)\s+(?:ordered"
        r"|bought|purchased)\b|\b(?:orders?|address|details|phone)\s+of\s+(?:the\s+)?(?:user"
        rf"|customer|buyer|member)\b{_NOT_DESK}", ""),
    (_D, "en_role_claim", r"\b(?:i'?m|i am)\s+(?:a|an|the|from the)\s+(?:courier|police|detective"
        r"|lawyer|investigator|private investigator|cop)\b", rf"{_EN_ASK}[^.!?]{{0,30}}\b(?:"
        r"recipient|buyer|sender|customer|owner|cardholder|his|her|their)"),
    (_D, "en_customer_db", r"\b(?:customer|user|member|client)\s+(?:database|db|table|list"
        r"|records)\b|\blist of (?:all )?(?:your )?(?:customers|users|members|buyers)\b", ""),
    (_D, "zh_other_customer", rf"{_ZH_OTHERS}(?:的?{_ZH_PEOPLE})?的{_ZH_DATA}"
        rf"|(?:其他|别的|所有|全部){_ZH_PEOPLE}{_ZH_DATA}|(?:这个|那个){_ZH_PEOPLE}的{_ZH_DATA}"
        rf"|(?:买了|购买了?|下单|下了单)[^。！？!?,，]{{0,8}}的(?:那个|那些|所有)?(?:人|顾客|客户"
        rf"|买家|用户)的?{_ZH_DATA}", _ZH_ASK),
    (_D, "zh_role_claim", r"我是(?:一名|一个|个)?(?:快递员|警察|律师|公安|派出所的|法院的|侦探"
        r"|记者)",
        rf"(?:给我|发我|告诉我|查一下|提供)[^。！？!?]{{0,12}}(?:收件人|收货人|买家|寄件人|下单人|客户"
        rf"|顾客|他|她)|(?:收件人|收货人|买家|寄件人|下单人|客户|顾客|他|她)的?{_ZH_DATA}"
        r"[^。！？!?]{0,6}(?:给我|发我|发给我|告诉我)"),
    (_D, "zh_not_mine", r"不是我的(?:订单|单|包裹|快递)",
        r"(?:告诉我|给我|发我)[^。！？!?]{0,12}(?:收件人|收货人|买家|下单人)"),
    (_D, "zh_customer_db", rf"{_ZH_PEOPLE}(?:数据库|名单|列表|资料库|表里)"
        r"|谁(?:买了|下的单|下单)[^。！？!?]{0,12}(?:地址|电话|名字|姓名)", ""),
    # ---- threats and hate against people (not swearing at the service)
    (_A, "en_threat", rf"\b(?:i|we)\s*{_WILL}\s+(?:(?:find|get|come for|send someone to)"
        rf"\s+(?:\w+\s+){{0,3}}(?:and\s+)?)?(?:{_HURT}\s+{_PERSON}|{_WRECK}\s+{_PLACE})\b"
        r"|\bbreak (?:your|his|her|their) (?:legs|neck|face|bones)\b", ""),
    (_A, "en_kys", r"\b(?:kill|hang) yourself\b|\bkys\b|\bi know where you live\b", ""),
    (_A, "zh_threat", rf"(?:我|老子|我们)[^。！？!?,，]{{0,8}}(?:{_ZH_KILL}{_ZH_TARGET}|砍人|杀人"
        rf"|捅人|开枪|放火|打断[^。！？!?,，]{{0,3}}腿)(?![^。！？!?,，]{{0,3}}的心)", ""),
    (_A, "zh_kys", r"(?:去|快去|赶紧)?自杀吧|我知道你家?住在?哪", ""),
    # ---- harmful how-tos
    (_H, "en_weapons_drugs", rf"\b{_HOW_TO}\s+{_MAKE}\s+(?:a |an |some )?(?:homemade "
        rf"|undetectable )?{_WEAPON_DRUG}\b", ""),
    (_H, "en_cyber_fraud", rf"\b(?:write|create|make|generate|code)\b{_NOT_END}{{0,20}}"
        rf"\b(?:phishing|malware|ransomware|keylogger|trojan|spyware)\b|\bsteal\s+(?:someone'?s"
        rf"|people'?s|a|their)?\s*(?:credit |debit )?card\b|\blaunder(?:ing)? money\b", ""),
    (_H, "zh_weapons_drugs", rf"(?:怎么|怎样|如何|教我|告诉我怎么|步骤|方法)[^。！？!?]{{0,6}}"
        rf"(?:制作|制造|做|合成|提炼|自制|配制)[^。！？!?,，]{{0,8}}{_ZH_HARM}", ""),
    (_H, "en_fraud_break_in", r"\bhow (?:do i|to|can i|could i)\s+hack\b|\bhack (?:into|your)\b"
        r"|\b(?:buy|get)\s+(?:a\s+)?(?:gun|firearm)s?\s+without\b|\b(?:make|create|forge"
        r"|generate|print)\b[^.!?]{0,15}\bfake (?:receipts?|invoices?|ids?)\b|\bhow (?:can|do"
        r"|could) i\s+(?:trick|scam|fool|cheat)\s+(?:the|your|a)\s+(?:shop|store|seller|system"
        r"|merchant)\b|\bbreak into\s+(?:someone|somebody|a|my neighbou?r)'?s?\s+(?:house"
        r"|home|car|account)\b", ""),
    (_H, "zh_fraud_break_in", r"(?:怎么|如何|哪里|哪儿)[^。！？!?]{0,4}(?:买|弄到|搞到)"
        r"[^。！？!?]{0,3}(?<![水玩具气])枪"
        r"|(?:帮我|给我|教我|怎么)(?:做|开|伪造|弄)[^。！？!?]{0,4}假(?:发票|收据|单据)"
        r"|(?:怎么|如何|教我)[^。！？!?]{0,4}骗(?:店家|商家|平台|客服|你们)"
        r"|(?:溜进|闯进|潜入)(?:别人|他人|邻居)家|怎么撬(?:锁|门)"
        r"|入侵[^。！？!?]{0,6}(?:后台|系统|服务器)", ""),
    (_H, "zh_cyber_fraud", r"(?:盗取|盗刷|窃取|偷)(?:别人|他人)?的?(?:信用卡|银行卡|密码|账号)"
        r"|(?:钓鱼|诈骗)(?:短信|邮件|网站|脚本)|洗钱|木马程序", ""),
    # ---- the view without separators ("i g n o r e  a l l", "忽.略.以.上"), with zh_*
    (_I, "compact_ignore", r"(?:ignore|disregard|forget)(?:all|any|the|your|of)*(?:previous"
        r"|prior|above|earlier|initial|system)(?:instructions?|rules|prompts?|guidelines)", ""),
    (_J, "compact_modes", r"(?:developer|jailbreak|dan|god|unrestricted)mode|doanythingnow"
        r"|youarenowdan", ""),
    (_L, "compact_prompt", r"systemprompt|(?:repeat|print|reveal|show)(?:me)?your(?:system"
        r"|initial|hidden)?(?:prompt|instructions)", ""),
)
# fmt: on
_RULES = tuple(
    _Rule(c, n, re.compile(p), re.compile(a) if a else None) for c, n, p, a in _RULE_TABLE
)


def match_rules(text: str) -> tuple[GuardCategory, str] | None:
    """The first rule that fires on any view of `text`, as (category, "rule:view")."""
    for view, t in text_views(text):
        split = view == "split"
        for r in _RULES:
            compact = r.name.startswith("compact_")
            if (compact and not split) or (split and not compact and not r.name.startswith("zh_")):
                continue
            if r.pattern.search(t) and (r.also is None or r.also.search(t)):
                return r.category, f"{r.name}:{view}"
    return None


# ------------------------------------------------------------------------------ semantic


@dataclass(frozen=True, slots=True, kw_only=True)
class KnnScore:
    attack: float  # mean similarity of the k nearest attack examples
    benign: float  # similarity of the nearest benign anchor
    category: str  # category of the nearest attack example
    example: int  # index of that example

    @property
    def margin(self) -> float:
        return self.attack - self.benign

    def flagged(self, th: SemanticThresholds) -> bool:
        return self.attack >= th.min_similarity and self.margin >= th.min_margin


def knn_scores(
    rows: Vectors, attacks: Vectors, benign: Vectors, *, k: int
) -> tuple[Vectors, Vectors, Vectors]:
    """Per row: mean similarity of the `k` nearest attacks, similarity of the nearest benign
    anchor, and all attack similarities (rows and examples are L2-normalised).

    One matrix-vector product per row on purpose: OpenBLAS runs a (1 x 512) @ (512 x n)
    product on several threads, which on a busy two-core machine costs 4-8 ms at p99,
    against 0.05 ms for the matrix-vector form."""
    sim_a = np.stack([attacks @ r for r in rows])
    sim_b = np.stack([benign @ r for r in rows])
    kk = min(k, sim_a.shape[1])
    top = -np.partition(-sim_a, kk - 1, axis=1)[:, :kk] if kk > 1 else sim_a.max(1, keepdims=True)
    return top.mean(1), sim_b.max(1), sim_a


class KnnIndex:
    """Attack and benign example vectors, embedded on first use (or `build()`)."""

    def __init__(
        self, embedder: Embedder, *, attacks: Sequence[tuple[str, str]], benign: Sequence[str]
    ) -> None:
        if not attacks or not benign:
            raise ValueError("the kNN index needs attack and benign examples")
        self._embedder = embedder
        self._attacks = tuple(attacks)
        self._benign = tuple(benign)
        self._lock = threading.Lock()
        self._vecs: tuple[Vectors, Vectors] | None = None

    def build(self) -> tuple[Vectors, Vectors]:
        if self._vecs is None:
            with self._lock:
                if self._vecs is None:
                    att = self._embedder.embed([normalize(t) for _, t in self._attacks])
                    ben = self._embedder.embed([normalize(t) for t in self._benign])
                    self._vecs = (att, ben)
        return self._vecs

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self._embedder.embed(list(texts))

    def score(self, vectors: Vectors, *, k: int = 1) -> KnnScore:
        """The most attack-like row of `vectors` (one row per text window)."""
        att, ben = self.build()
        rows = np.atleast_2d(vectors).astype(np.float32)
        att_score, ben_score, sim_a = knn_scores(rows, att, ben, k=k)
        i = int(np.argmax(att_score - ben_score))
        j = int(np.argmax(sim_a[i]))
        return KnnScore(
            attack=float(att_score[i]),
            benign=float(ben_score[i]),
            category=self._attacks[j][0],
            example=j,
        )


def _windows(norm: str) -> list[str]:
    """Extra embedding windows of a long message, after the head the NLU embeds: evenly
    spread, overlapping by at least `WINDOW_OVERLAP` characters, at most
    `LONG_TEXT_WINDOWS` of them (beyond that the semantic check samples; the rules read
    everything)."""
    if len(norm) <= WINDOW_CHARS + WINDOW_OVERLAP:
        return []
    rest = norm[WINDOW_CHARS - WINDOW_OVERLAP :]
    stride = WINDOW_CHARS - WINDOW_OVERLAP
    n = min(LONG_TEXT_WINDOWS, -(-(len(rest) - WINDOW_OVERLAP) // stride))
    last = max(len(rest) - WINDOW_CHARS, 0)
    starts = sorted({round(last * i / (n - 1)) for i in range(n)}) if n > 1 else [0]
    return [rest[i : i + WINDOW_CHARS] for i in starts]


# ----------------------------------------------------------------------------- the guards


class InputGuard:
    """Checks a customer message before NLU acts on it. `check` never raises.

    `embedder` enables the semantic layer; pass the NLU's instance (the vectors must come
    from the same model as the precomputed `vector` given to `check`). `llm_guard` is an
    optional third opinion used by `acheck` only."""

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        examples: GuardExamples | None = None,
        thresholds: SemanticThresholds = INPUT_THRESHOLDS,
        llm_guard: LlmGuard | None = None,
        metrics: GuardMetrics | None = None,
    ) -> None:
        self._index: KnnIndex | None = None
        if embedder is not None:
            ex = examples or load_guard_examples()
            self._index = KnnIndex(embedder, attacks=ex.attacks, benign=ex.benign)
        self.thresholds = thresholds
        self._llm_guard = llm_guard
        self._metrics = metrics

    def warm_up(self) -> None:
        """Embed the examples now (about 1 s on two cores) instead of on the first message."""
        if self._index is not None:
            self._index.build()

    def check(
        self, text: str, *, lang: str, vector: Vectors | None = None, semantic: bool = True
    ) -> GuardVerdict:
        """`vector`: the embedding of `kefu.nlu.normalize.normalize(text)` if the NLU has it.
        `semantic=False`: the rules only (no embedding)."""
        start = time.perf_counter()
        try:
            verdict = self._check(text, vector, semantic)
        except Exception:  # a guard bug must not take the turn down; rules are logged
            log.exception("safety.input_guard_failed chars=%d", len(text))
            verdict = OK_VERDICT
        if not verdict.allowed:
            log.info(
                "safety.input_blocked lang=%s category=%s score=%.3f reason=%s chars=%d",
                lang,
                verdict.category,
                verdict.score,
                verdict.reason,
                len(text),
            )
        if self._metrics is not None:
            self._metrics.observe("input", verdict, time.perf_counter() - start)
        return verdict

    def _check(self, text: str, vector: Vectors | None, semantic: bool) -> GuardVerdict:
        if not text.strip():
            return OK_VERDICT
        hit = match_rules(text)
        if hit is not None:
            return GuardVerdict(False, hit[0], 1.0, f"rule:{hit[1]}")
        if self._index is None or not semantic:
            return OK_VERDICT
        try:
            s = self._index.score(self._vectors(text, vector), k=self.thresholds.k)
        except Exception:  # a broken encoder must not lose the rules' verdict
            log.exception("safety.input_semantic_failed chars=%d", len(text))
            return OK_VERDICT
        if s.flagged(self.thresholds):
            reason = f"knn:{s.category}#{s.example} sim={s.attack:.3f} margin={s.margin:.3f}"
            return GuardVerdict(False, s.category, round(s.attack, 4), reason)
        return GuardVerdict(True, GuardCategory.OK, round(max(s.margin, 0.0), 4), "")

    def _vectors(self, text: str, vector: Vectors | None) -> Vectors:
        """The message's vector (given or embedded) plus any long-text windows and decoded
        payloads, one row each."""
        assert self._index is not None
        extra = _windows(guard_normalize(text)) + [normalize(p) for p in decoded_payloads(text)]
        if vector is None:
            return self._index.embed([normalize(text), *extra])
        if extra:
            return np.vstack([np.atleast_2d(vector), self._index.embed(extra)])
        return np.atleast_2d(vector)

    async def acheck(
        self, text: str, *, lang: str, vector: Vectors | None = None, timeout_s: float = 3.0
    ) -> GuardVerdict:
        """`check`, then the pluggable `llm_guard` for what the fast layers let through.
        An LLM guard that fails or times out leaves the fast verdict standing (writes are
        protected by the flows anyway); its block is counted like any other."""
        verdict = self.check(text, lang=lang, vector=vector)
        if not verdict.allowed or self._llm_guard is None:
            return verdict
        try:
            async with asyncio.timeout(timeout_s):
                second = await self._llm_guard(text)
        except Exception as exc:
            log.warning("safety.llm_guard_failed error=%s", type(exc).__name__)
            return verdict
        if not second.allowed:
            log.info("safety.input_blocked lang=%s category=%s reason=llm", lang, second.category)
            if self._metrics is not None:
                self._metrics.blocks.labels("input", second.category).inc()
        return second if not second.allowed else verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputPolicy:
    """What replies must not say: keyword phrases by category (all languages together) and
    the semantic examples with the benign replies they are weighed against."""

    keywords: Mapping[str, tuple[str, ...]]
    semantic_examples: tuple[tuple[str, str], ...] = ()
    benign_replies: tuple[str, ...] = ()


def load_output_policy(
    *,
    extra_keywords: Mapping[str, Sequence[str]] | None = None,
    allowed_phrases: Collection[str] = (),
) -> OutputPolicy:
    """The shipped lists plus a shop's own (`extra_keywords={"competitor": ["某宝"]}`), minus
    phrases its policy does allow (`allowed_phrases=["无条件退款"]`)."""
    data = yaml.safe_load(_data("output_forbidden.yaml"))
    drop = {guard_normalize(p) for p in allowed_phrases}
    words: dict[str, list[str]] = {}
    for cat, by_lang in data["keywords"].items():
        GuardCategory(cat)
        words[cat] = [str(p) for lst in by_lang.values() for p in (lst or [])]
    for cat, phrases in (extra_keywords or {}).items():
        GuardCategory(cat)  # an unknown category is a settings error: fail at start
        words.setdefault(cat, []).extend(phrases)
    keywords = {
        c: tuple(dict.fromkeys(n for p in ps if (n := guard_normalize(p)) and n not in drop))
        for c, ps in words.items()
    }
    examples = tuple((str(c), str(t)) for c, ts in data["semantic_examples"].items() for t in ts)
    return OutputPolicy(
        keywords=keywords,
        semantic_examples=examples,
        benign_replies=tuple(str(t) for t in data["benign_replies"]),
    )


def _phrase_regex(phrases: Sequence[str]) -> re.Pattern[str] | None:
    parts = [
        rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])" if p.isascii() else re.escape(p)
        for p in sorted(phrases, key=len, reverse=True)
    ]
    return re.compile("|".join(parts)) if parts else None


# ---- tokens (CJK characters count as tokens), PII values, secrets

_TOKEN = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+(?:['.][a-z0-9]+)*")
_CITATION = re.compile(r"\[[^\[\]\n]{1,40}\]|【[^【】\n]{1,40}】")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_STOP_WORDS = """
a an the is are was were be to of and or in on at for with by from as it its this that these
those you your we our us i me my he she they them can could will would may might please do
does did have has had not no so if then than there here also just about
的 了 是 在 您 你 我 们 和 与 及 或 可 以 请 吗 呢 吧 啊 也 就 都 这 那 有 会
能 要 对 为 把 被 给 让 到 从 等 哦 呀 哈 嗯 亲
"""
_STOP = frozenset(_STOP_WORDS.split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(guard_normalize(text))


def _canon_value(value: str) -> str:
    s = unicodedata.normalize("NFKC", value).lower()
    s = re.sub(r"\s+", "", s) if "@" in s else re.sub(r"[^\w@]+", "", s)
    return s[2:] if s.isdigit() and len(s) == 13 and s.startswith("86") else s


_MOBILE = re.compile(r"(?<![\d])(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _valid_cn_id(s: str) -> bool:
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    month, day = int(s[10:12]), int(s[12:14])
    return "10X98765432"[total % 11] == s[17].upper() and 1 <= month <= 12 and 1 <= day <= 31


def basic_pii_find(text: str) -> list[tuple[str, str]]:
    """A minimal stand-in for the PII detector: mainland mobile numbers, e-mail addresses and
    resident ID numbers (checksum-verified). Used when no `pii_find` is given."""
    t = unicodedata.normalize("NFKC", text)
    found = [("phone", m.group(0)) for m in _MOBILE.finditer(t)]
    found += [("email", m.group(0)) for m in _EMAIL.finditer(t)]
    found += [("id_number", m.group(0)) for m in _CN_ID.finditer(t) if _valid_cn_id(m.group(0))]
    return found


def _shingles(toks: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


class OutputGuard:
    """Checks a reply before it is sent. `check` never raises.

    `secret_texts`: texts that must never be quoted (the system prompt, tool descriptions);
    a reply sharing a run of `PROMPT_LEAK_RUN` tokens with one of them is a prompt leak.
    `public_values`: PII-looking values any reply may contain (the shop's hotline, its
    support e-mail). `embedder` enables the semantic check of generated replies."""

    def __init__(
        self,
        *,
        policy: OutputPolicy | None = None,
        secret_texts: Sequence[str] = (),
        public_values: Collection[str] = (),
        embedder: Embedder | None = None,
        metrics: GuardMetrics | None = None,
    ) -> None:
        self.policy = policy or load_output_policy()
        self._secrets = set().union(*(_shingles(tokens(s), PROMPT_LEAK_RUN) for s in secret_texts))
        self._public = {c for v in public_values if (c := _canon_value(v))}
        self._keywords = {
            c: rx for c, ps in self.policy.keywords.items() if (rx := _phrase_regex(ps)) is not None
        }
        self._index: KnnIndex | None = None
        if embedder is not None and self.policy.semantic_examples and self.policy.benign_replies:
            self._index = KnnIndex(
                embedder,
                attacks=self.policy.semantic_examples,
                benign=self.policy.benign_replies,
            )
        self._metrics = metrics

    def warm_up(self) -> None:
        if self._index is not None:
            self._index.build()

    def check(
        self,
        reply_text: str,
        *,
        lang: str,
        allowed_values: Collection[str],
        pii_find: PiiFinder | None = None,
        semantic: bool = True,
    ) -> GuardVerdict:
        """`allowed_values`: PII the customer gave in this session and the verified
        customer's own data. `semantic=False` for fixed template replies (cheaper)."""
        start = time.perf_counter()
        try:
            verdict = self._check(reply_text, allowed_values, pii_find, semantic)
        except Exception:  # fail closed: a reply we could not check is not sent
            log.exception("safety.output_guard_failed chars=%d", len(reply_text))
            verdict = GuardVerdict(False, GuardCategory.PII_LEAK, 1.0, "guard_error")
        if not verdict.allowed:
            log.info(
                "safety.output_blocked lang=%s category=%s reason=%s",
                lang,
                verdict.category,
                verdict.reason,
            )
        if self._metrics is not None:
            self._metrics.observe("output", verdict, time.perf_counter() - start)
        return verdict

    def leaked_values(
        self, reply_text: str, *, allowed_values: Collection[str], pii_find: PiiFinder | None
    ) -> list[tuple[str, str]]:
        """PII in the reply that is neither allowed nor public, as (type, value)."""
        allowed = self._public | {c for v in allowed_values if (c := _canon_value(v))}
        out: list[tuple[str, str]] = []
        for typ, value in (pii_find or basic_pii_find)(reply_text):
            c = _canon_value(value)
            if c and c not in allowed and not any(len(c) >= 3 and c in a for a in allowed):
                out.append((typ, value))
        return out

    def _check(
        self,
        text: str,
        allowed_values: Collection[str],
        pii_find: PiiFinder | None,
        semantic: bool,
    ) -> GuardVerdict:
        if self._secrets and (hits := _shingles(tokens(text), PROMPT_LEAK_RUN) & self._secrets):
            return GuardVerdict(False, GuardCategory.PROMPT_LEAK, 1.0, f"secret:{len(hits)}")
        if leaks := self.leaked_values(text, allowed_values=allowed_values, pii_find=pii_find):
            kinds = ",".join(sorted({t for t, _ in leaks}))
            return GuardVerdict(False, GuardCategory.PII_LEAK, 1.0, f"pii:{kinds}")
        norm = guard_normalize(text)
        for cat, rx in self._keywords.items():
            if rx.search(norm):
                return GuardVerdict(False, cat, 1.0, f"keyword:{cat}")
        if semantic and self._index is not None and norm:
            s = self._index.score(self._index.embed([normalize(text)]), k=OUTPUT_THRESHOLDS.k)
            if s.flagged(OUTPUT_THRESHOLDS):
                reason = f"knn:{s.category}#{s.example} sim={s.attack:.3f} margin={s.margin:.3f}"
                return GuardVerdict(False, s.category, round(s.attack, 4), reason)
        return OK_VERDICT

    def redact(
        self,
        reply_text: str,
        *,
        lang: str,
        allowed_values: Collection[str],
        pii_find: PiiFinder | None = None,
        semantic: bool = True,
    ) -> str:
        """The reply to send: unchanged when it passes; with leaked PII values masked when
        that is its only problem; else the calm `output` reply (a reply that promises too
        much or quotes the prompt cannot be patched)."""
        v = self.check(
            reply_text,
            lang=lang,
            allowed_values=allowed_values,
            pii_find=pii_find,
            semantic=semantic,
        )
        if v.allowed:
            return reply_text
        if v.category != GuardCategory.PII_LEAK or v.reason == "guard_error":
            return refusal_text("output", lang)
        out = reply_text
        for _, value in self.leaked_values(
            reply_text, allowed_values=allowed_values, pii_find=pii_find
        ):
            if value not in out:
                return refusal_text("output", lang)  # cannot locate it: do not risk it
            out = out.replace(value, "[已隐藏]" if lang == "zh" else "[hidden]")
        again = self.check(
            out, lang=lang, allowed_values=allowed_values, pii_find=pii_find, semantic=semantic
        )
        return out if again.allowed else refusal_text("output", lang)


def grounded(
    answer: str,
    passages: Mapping[str, str],
    cited: Sequence[str],
    *,
    min_overlap: float = 0.5,
) -> bool:
    """Whether an LLM answer stays within the passages it cites: at least one citation,
    every cited id among the passages given, at least `min_overlap` of the answer's content
    tokens (CJK characters count as tokens; stop words and citation marks do not) found in
    the cited passages, and every number in the answer present in them."""
    if not cited or any(c not in passages for c in cited):
        return False
    body = _CITATION.sub(" ", answer)
    source = " ".join(passages[c] for c in cited)
    have = set(tokens(source))
    content = [t for t in tokens(body) if t not in _STOP]
    if not content:
        return False
    overlap = sum(t in have for t in content) / len(content)
    numbers_ok = set(_NUMBER.findall(guard_normalize(body))) <= set(
        _NUMBER.findall(guard_normalize(source))
    )
    return overlap >= min_overlap and numbers_ok
