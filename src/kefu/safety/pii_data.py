"""The word lists under `kefu/safety/data/`, and a regex builder for long word lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

_Trie = dict[str, "_Trie"]
_END = ""  # key that marks the end of a word in a trie node


def _lines(name: str) -> list[str]:
    text = resources.files("kefu.safety").joinpath("data", name).read_text("utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def words(name: str) -> frozenset[str]:
    """Every whitespace-separated word of a data file (comments skipped)."""
    return frozenset(w for line in _lines(name) for w in line.split())


@cache
def sections(name: str) -> dict[str, frozenset[str]]:
    """A data file of `key: words` sections, continued on lines starting with white space."""
    out: dict[str, set[str]] = {}
    key = ""
    for line in _lines(name):
        if not line[0].isspace():
            key, _, line = line.partition(":")
            key = key.strip()
        out.setdefault(key, set()).update(line.split())
    return {k: frozenset(v) for k, v in out.items()}


def trie_regex(items: Iterable[str]) -> str:
    """One regex alternation for many literal words, shaped as a trie so that matching
    costs one branch per character; longer words win over their prefixes."""
    root: _Trie = {}
    for item in items:
        node = root
        for ch in item:
            node = node.setdefault(ch, {})
        node[_END] = {}
    return _trie_body(root)


def _trie_body(node: _Trie) -> str:
    branches = [re.escape(ch) + _trie_body(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    ends_here = _END in node
    if len(branches) == 1 and not ends_here:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")


@dataclass(frozen=True, slots=True)
class Divisions:
    """Chinese administrative divisions: each written form (full name or short name) to the
    full names it may mean, and each full name to its ancestors (parent and grandparent)."""

    forms: dict[str, frozenset[str]]
    ancestors: dict[str, frozenset[str]]
    short_forms: frozenset[str]  # forms that are short names, e.g. 黑龙江, 哈尔滨


_AUTO_SHORT = ("省", "市", "地区", "盟")


@cache
def divisions() -> Divisions:
    parents: dict[str, set[str]] = {}
    forms: dict[str, set[str]] = {}
    short: set[str] = set()
    top: set[str] = set()
    for line in _lines("divisions_zh.txt"):
        parent, _, rest = line.partition(":")
        parent = parent.strip()
        for item in rest.split():
            full, _, aliases = item.partition("=")
            parents.setdefault(full, set()).add(parent)
            forms.setdefault(full, set()).add(full)
            names = [a for a in aliases.split("|") if a]
            if parent == "国" or parent in top:  # provinces and prefecture-level divisions
                names += [full[: -len(s)] for s in _AUTO_SHORT if full.endswith(s)]
            for alias in names:
                if len(alias) >= 2 and alias != full:
                    forms.setdefault(alias, set()).add(full)
                    short.add(alias)
            if parent == "国":
                top.add(full)
    ancestors = {
        name: frozenset(ps | {g for p in ps for g in parents.get(p, ())})
        for name, ps in parents.items()
    }
    return Divisions(
        forms={k: frozenset(v) for k, v in forms.items()},
        ancestors=ancestors,
        short_forms=frozenset(short - set(parents)),
    )
