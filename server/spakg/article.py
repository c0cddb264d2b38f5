"""The source article as text: its lines, headings, list items and sentences, and where a quote sits in it.

Offsets are Python ``str`` indices into the UTF-8 decoded text, the convention every provenance record in the
ontology uses. The structure (heading / list item / prose) is read from the text's own shape, so that a test
can ask which of the article's statements no annotation covers without trusting the annotations themselves.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from pathlib import Path

from .resources import article_path


class LineKind(Enum):
    HEADING = "heading"
    LIST_ITEM = "list item"
    PROSE = "prose"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    kind: LineKind
    section: str  # heading of the section the span sits in


_TERMINAL = (".", "!", ":")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "vs", "with"}
_SENTENCE_END = re.compile(r"(?<!\bvs\.)(?<=[.?!])\s+(?=[A-Z(])")


def _is_title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9'-]*", line) if w.lower() not in _SMALL_WORDS]
    return bool(words) and all(w[0].isupper() for w in words)


def classify_line(line: str) -> LineKind:
    """A heading is a Title Case line not closed by . ! or :; a list item is any other unpunctuated line."""
    stripped = line.strip()
    if _is_title_case(stripped) and not stripped.endswith(_TERMINAL):
        return LineKind.HEADING  # "What Is Inflammatory Back Pain?" included
    if stripped.endswith((*_TERMINAL, "?")) or stripped.startswith("("):
        return LineKind.PROSE
    return LineKind.LIST_ITEM  # "uveitis (eye inflammation)": a closing parenthesis ends no sentence


class QuoteNotFound(ValueError):
    pass


class Article:
    def __init__(self, text: str, path: Path | None = None) -> None:
        self.text = text
        self.path = path

    @classmethod
    def load(cls, path: Path | None = None) -> Article:
        path = path or article_path()
        return cls(path.read_bytes().decode("utf-8"), path)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @cached_property
    def title(self) -> str:
        return self.lines[0].text

    @cached_property
    def lines(self) -> list[Span]:
        spans: list[Span] = []
        section = ""
        offset = 0
        for raw in self.text.split("\n"):
            start, end = offset, offset + len(raw)
            offset = end + 1
            if not raw.strip():
                continue
            kind = classify_line(raw)
            if kind is LineKind.HEADING:
                section = raw.strip()
            spans.append(Span(start, end, raw, kind, section))
        return spans

    @cached_property
    def headings(self) -> list[Span]:
        return [s for s in self.lines if s.kind is LineKind.HEADING]

    @cached_property
    def list_items(self) -> list[Span]:
        return [s for s in self.lines if s.kind is LineKind.LIST_ITEM]

    @cached_property
    def sentences(self) -> list[Span]:
        """Prose lines split into sentences: the article's statements that are not list items or headings."""
        out: list[Span] = []
        for line in self.lines:
            if line.kind is not LineKind.PROSE:
                continue
            cursor = 0
            for piece in _SENTENCE_END.split(line.text):
                at = line.text.index(piece, cursor)
                cursor = at + len(piece)
                out.append(Span(line.start + at, line.start + cursor, piece, LineKind.PROSE, line.section))
        return out

    def section_at(self, offset: int) -> str:
        current = ""
        for heading in self.headings:
            if heading.start > offset:
                break
            current = heading.text.strip()
        return current

    def section_range(self, heading: str) -> tuple[int, int]:
        """Start of the heading to the start of the next heading (or the end of the text)."""
        for i, span in enumerate(self.headings):
            if span.text.strip() == heading:
                end = self.headings[i + 1].start if i + 1 < len(self.headings) else len(self.text)
                return span.start, end
        raise KeyError(heading)

    def locate(self, quote: str, occurrence: int = 1) -> tuple[int, int]:
        """Offsets of the ``occurrence``-th verbatim occurrence of ``quote``; never a fuzzy match."""
        start = -1
        for _ in range(occurrence):
            start = self.text.find(quote, start + 1)
            if start < 0:
                raise QuoteNotFound(f"not in the article verbatim: {quote!r}")
        return start, start + len(quote)

    def occurrences(self, quote: str) -> int:
        return self.text.count(quote)
