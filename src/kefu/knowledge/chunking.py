"""Documents into chunks: by Markdown headings, then paragraphs and sentences (Chinese-aware),
packed up to a size with an overlap of whole sentences between neighbouring chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.knowledge.text import split_sentences

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANK = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    section: str
    text: str


def sections(content: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; text before the first heading has heading ""."""
    out: list[tuple[str, str]] = []
    heading = ""
    body: list[str] = []
    for line in content.splitlines():
        m = _HEADING.match(line)
        if m:
            if any(b.strip() for b in body):
                out.append((heading, "\n".join(body).strip()))
            heading, body = m.group(2).strip(), []
        else:
            body.append(line)
    if any(b.strip() for b in body):
        out.append((heading, "\n".join(body).strip()))
    return out


def _cut(sentence: str, size: int) -> tuple[str, str]:
    """A head of at most `size` characters, at a space when the text has one (Latin)."""
    cut = sentence.rfind(" ", size // 2, size + 1)
    if cut <= 0:
        return sentence[:size], sentence[size:]
    return sentence[:cut], sentence[cut + 1 :]


def _units(body: str, size: int) -> list[str]:
    """Sentences of the body, none longer than `size`; a paragraph's first sentence starts
    with a newline marker so packing can keep paragraphs apart."""
    units: list[str] = []
    for para in _BLANK.split(body):
        first = True
        for sentence in split_sentences(para):
            while len(sentence) > size:
                head, sentence = _cut(sentence, size)
                units.append(("\n" if first else "") + head)
                first = False
            if sentence:
                units.append(("\n" if first else "") + sentence)
                first = False
    return units


def _join(units: list[str]) -> str:
    text = ""
    for u in units:
        if u.startswith("\n"):
            text = f"{text}\n{u[1:]}" if text else u[1:]
        else:
            sep = " " if text and text[-1].isascii() and u[:1].isascii() else ""
            text = f"{text}{sep}{u}"
    return text.strip()


def _pack(units: list[str], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    cur: list[str] = []
    length = 0
    for unit in units:
        # a chunk closes when the next sentence would overflow it, unless it is still
        # under half full (then it grows up to 1.5 x size rather than leave a scrap)
        if (
            cur
            and length + len(unit) > size
            and (length >= size // 2 or length + len(unit) > size * 3 // 2)
        ):
            chunks.append(_join(cur))
            tail: list[str] = []
            tail_len = 0
            for u in reversed(cur):  # whole sentences from the end, up to `overlap` chars
                if tail_len + len(u) > overlap:
                    break
                tail.insert(0, u.lstrip("\n"))
                tail_len += len(u)
            cur, length = tail, tail_len
        cur.append(unit)
        length += len(unit)
    if cur:
        last = _join(cur)
        if not chunks or last not in chunks[-1]:
            chunks.append(last)
    return chunks


def chunk_text(content: str, *, size: int = 400, overlap: int = 80) -> list[Chunk]:
    """Chunks of a Markdown or plain-text document. Each chunk stays inside one section,
    starts with a whole sentence (unless a sentence alone is longer than `size`), and
    shares up to `overlap` characters of whole sentences with the chunk before it. Chunks
    are about `size` characters, at most 1.5 x size + overlap."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    out: list[Chunk] = []
    for heading, body in sections(content):
        for text in _pack(_units(body, size), size, overlap):
            out.append(Chunk(section=heading, text=text))
    return out
