"""Provenance records: where a concept, relation or rule comes from (a quote of the article, or a citation)."""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph, URIRef

from .namespaces import DCTERMS, OA, PROV, SPAKG, SRC


@dataclass(frozen=True)
class Source:
    id: str
    iri: str
    title: str
    sha256: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class Provenance:
    source: Source
    quote: str | None = None
    start: int | None = None
    end: int | None = None
    section: str | None = None
    citation: str | None = None
    iri: str | None = None  # the quote resource, when there is one


class ProvenanceIndex:
    """Every quote resource of the ontology, read once, by IRI."""

    def __init__(self, graph: Graph) -> None:
        self.article = self._article(graph)
        self.sources = [self.article]
        self.quotes: dict[URIRef, Provenance] = {}
        self.sections: dict[str, tuple[int, int]] = {}
        for section in graph.subjects(DCTERMS.isPartOf, SRC.article):
            title = graph.value(section, DCTERMS.title)
            if title is not None:
                start, end = _position(graph, section)
                self.sections[str(title)] = (start, end)
        for quote in graph.subjects(OA.hasSource, SRC.article):
            exact = next((graph.value(sel, OA.exact) for sel in graph.objects(quote, OA.hasSelector)
                          if graph.value(sel, OA.exact) is not None), None)
            start, end = _position(graph, quote)
            section_node = graph.value(quote, DCTERMS.isPartOf)
            section = graph.value(section_node, DCTERMS.title) if section_node is not None else None
            self.quotes[quote] = Provenance(
                source=self.article, quote=str(exact) if exact is not None else None, start=start, end=end,
                section=str(section) if section is not None else None, iri=str(quote),
            )

    @staticmethod
    def _article(graph: Graph) -> Source:
        return Source(
            id="article", iri=str(SRC.article),
            title=str(graph.value(SRC.article, DCTERMS.title) or "source article"),
            sha256=_str(graph.value(SRC.article, SPAKG.sha256)),
            file=_str(graph.value(SRC.article, SPAKG.seedsFile)),
        )

    def citation(self, text: str) -> Provenance:
        return Provenance(source=Source(id="publication", iri="", title="published criteria"), citation=text)

    def for_subject(self, graph: Graph, subject: URIRef) -> list[Provenance]:
        """Quotes (prov:wasDerivedFrom) then citations (dcterms:source / bibliographicCitation) of a resource."""
        out = [self.quotes[q] for q in sorted(graph.objects(subject, PROV.wasDerivedFrom)) if q in self.quotes]
        for predicate in (DCTERMS.bibliographicCitation, DCTERMS.source):
            out.extend(self.citation(str(c)) for c in sorted(graph.objects(subject, predicate)))
        return out

    def disclaimer(self, graph: Graph) -> str:
        quote = graph.value(SRC.article, SPAKG.disclaimer)
        found = self.quotes.get(quote) if quote is not None else None
        return found.quote if found and found.quote else ""


def _position(graph: Graph, node: URIRef) -> tuple[int, int]:
    for sel in graph.objects(node, OA.hasSelector):
        start, end = graph.value(sel, OA.start), graph.value(sel, OA.end)
        if start is not None and end is not None:
            return int(start), int(end)
    return -1, -1


def _str(value: object) -> str | None:
    return None if value is None else str(value)
