"""Which serialisation a SPARQL answer is written in: the client's ``Accept`` (q-values honoured) against what the query
form can give (SPARQL 1.1 Protocol §2.1.6; Query Results JSON, XML, CSV and TSV; the RDF syntaxes for graphs).

The query form is known only once the query is parsed, in the worker, so the worker calls ``choose`` with the
``Accept`` header the server forwards; nothing here parses RDF.
"""

from __future__ import annotations

from dataclasses import dataclass

from .negotiate import accepted

# Canonical media type -> pyoxigraph format name, in the order the server prefers them when the client does not mind.
SOLUTIONS = {
    "application/sparql-results+json": "JSON",
    "application/sparql-results+xml": "XML",
    "text/csv": "CSV",
    "text/tab-separated-values": "TSV",
}
GRAPHS = {
    "text/turtle": "TURTLE",
    "application/n-triples": "N_TRIPLES",
    "application/rdf+xml": "RDF_XML",
    "application/ld+json": "JSON_LD",
}
# Types clients send for the same thing (SPARQLWrapper asks application/json and application/turtle, for instance).
ALIASES = {
    "application/json": "application/sparql-results+json",
    "application/xml": "application/sparql-results+xml",
    "text/xml": "application/sparql-results+xml",
    "application/turtle": "text/turtle",
    "application/x-turtle": "text/turtle",
    "application/x-json+ld": "application/ld+json",
}
TEXTUAL = {"text/csv", "text/tab-separated-values", "text/turtle", "application/n-triples"}


class NotAcceptable(Exception):
    """No type the client accepts can carry this form of answer."""

    def __init__(self, offered: list[str]) -> None:
        super().__init__("This answer can be sent as " + ", ".join(offered) + "; send an Accept header that allows one "
                         "of them (or */*).")


@dataclass(frozen=True)
class _Range:
    type: str       # "text", "*"
    subtype: str    # "csv", "*"
    q: float

    def matches(self, media: str) -> int:
        """How specifically this range names ``media``: 2 exactly, 1 by ``type/*``, 0 by ``*/*``, -1 not at all."""
        kind, sub = media.split("/", 1)
        if self.type == "*":
            return 0
        if self.type != kind:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


def parse_accept(header: str | None) -> list[_Range]:
    """The media ranges of an Accept header; a malformed one is skipped (RFC 9110 lets a server ignore it)."""
    ranges = []
    for media, q in accepted(header):
        media = ALIASES.get(media, media)
        if media.count("/") != 1:
            continue
        kind, sub = media.split("/")
        if not kind or not sub or (kind == "*" and sub != "*"):
            continue
        ranges.append(_Range(kind, sub, q))
    return ranges


def choose(accept: str | None, offered: dict[str, str]) -> str:
    """The media type to answer with, from ``offered`` (canonical types in the server's order of preference)."""
    ranges = parse_accept(accept)
    if not ranges:
        return next(iter(offered))
    best, best_q = None, 0.0
    for media in offered:
        specificity, q = -1, 0.0
        for r in ranges:  # the most specific range that names the type decides its q (RFC 9110 §12.5.1)
            s = r.matches(media)
            if s > specificity:
                specificity, q = s, r.q
        if q > best_q:
            best, best_q = media, q
    if best is None:
        raise NotAcceptable(list(offered))
    return best


def content_type(media: str) -> str:
    return f"{media}; charset=utf-8" if media in TEXTUAL else media
