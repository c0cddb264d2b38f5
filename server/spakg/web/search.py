"""Concept search as a student expects it: the concept whose own name or synonym was typed first, then names that
begin with it, then names holding its words, then definitions; a misspelling finds the closest names (rapidfuzz)
and says "did you mean". Built once per ontology version; a query touches only the in-memory name table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ..concepts import Concept
from ..knowledge import Knowledge

EXACT, PREFIX, WORDS, INSIDE, DEFINITION, FUZZY = range(6)
HOW = {EXACT: "its name", PREFIX: "the start of a name", WORDS: "words of a name", INSIDE: "part of a name",
       DEFINITION: "its definition", FUZZY: "a close spelling"}
FUZZY_CUTOFF = 80  # rapidfuzz WRatio, 0-100: "uveitiss" → uveitis scores 93, "ankylosing spondilitis" 95


def normal(text: str) -> str:
    """Lower case, punctuation as spaces: "HLA-B27" and "hla b27" are one name."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@dataclass(frozen=True)
class Name:
    text: str        # as the ontology writes it
    key: str         # normal(text)
    words: tuple[str, ...]
    concept: Concept
    is_label: bool


@dataclass(frozen=True)
class Hit:
    concept: Concept
    rank: int          # EXACT … FUZZY
    matched: str       # the name that matched (a synonym where that is what was typed)

    @property
    def via_synonym(self) -> bool:
        return self.matched != self.concept.label and self.rank != DEFINITION

    @property
    def how(self) -> str:
        return HOW[self.rank]


@dataclass(frozen=True)
class Found:
    query: str
    hits: list[Hit]
    did_you_mean: list[Hit]  # close spellings, when nothing matched as typed


class ConceptSearch:
    def __init__(self, k: Knowledge) -> None:
        self.concepts = concepts = k.concepts
        self.names: list[Name] = []
        for c in sorted(concepts, key=lambda c: c.label.lower()):
            for text, is_label in ((c.label, True), *((s, False) for s in c.synonyms)):
                key = normal(text)
                if key:
                    self.names.append(Name(text, key, tuple(key.split()), c, is_label))
        self._keys = [n.key for n in self.names]
        self._definitions = {c.id: normal(c.definition or "") for c in concepts}
        self._exact: dict[str, Concept] = {}
        for n in self.names:  # a label wins over another concept's synonym of the same spelling
            if n.is_label or n.key not in self._exact:
                self._exact[n.key] = n.concept

    def resolve(self, ref: str) -> Concept | None:
        """The concept an id, CURIE, IRI, label or synonym names exactly (case and punctuation aside)."""
        return self.concepts.find(ref) or self._exact.get(normal(ref))

    def search(self, text: str, limit: int = 50) -> Found:
        q = normal(text)
        if not q:
            return Found(text, [], [])
        words = q.split()
        best: dict[str, Hit] = {}

        def offer(n: Name, rank: int) -> None:
            held = best.get(n.concept.id)
            if held is None or (rank, not n.is_label, len(n.key)) < (held.rank, held.matched != n.concept.label,
                                                                     len(normal(held.matched))):
                best[n.concept.id] = Hit(n.concept, rank, n.text)

        squashed = q.replace(" ", "")
        for n in self.names:
            if n.key == q or n.key.replace(" ", "") == squashed:
                offer(n, EXACT)
            elif n.key.startswith(q) or (len(squashed) >= 3 and n.key.replace(" ", "").startswith(squashed)):
                offer(n, PREFIX)
            elif all(any(w.startswith(part) for w in n.words) for part in words):
                offer(n, WORDS)
            elif len(q) >= 3 and q in n.key:
                offer(n, INSIDE)
        if len(q) >= 3:
            for c in self.concepts:
                if c.id not in best and all(part in self._definitions[c.id] for part in words):
                    best[c.id] = Hit(c, DEFINITION, c.label)
        hits = sorted(best.values(), key=lambda h: (h.rank, len(normal(h.matched)), h.concept.label.lower()))[:limit]
        if hits:
            return Found(text, hits, [])
        return Found(text, [], self.close_spellings(q, limit=8))

    def close_spellings(self, q: str, limit: int = 8) -> list[Hit]:
        found: dict[str, Hit] = {}
        for _key, _score, i in process.extract(q, self._keys, scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF,
                                             limit=limit * 3):
            n = self.names[i]
            if n.concept.id not in found:
                found[n.concept.id] = Hit(n.concept, FUZZY, n.text)
        return list(found.values())[:limit]
