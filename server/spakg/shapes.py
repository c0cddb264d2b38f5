"""SHACL validation with pySHACL, reported the way a person reads it: the resource at fault (a blank node named by
the resource that holds it), the property, the shape's message, and the shape's ``spakg:fix``.

Used by ``spakg check`` (the ontology against ontology/shapes.ttl) and for patient facts sent as RDF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdflib import BNode, Graph
from rdflib.namespace import SH

from .namespaces import PREFIXES, PT, RDF, RDFS, SPAKG


@dataclass(frozen=True)
class Violation:
    entity: str
    text: str  # "<entity> (<property>): <message>"
    fix: str | None
    severe: bool  # sh:Violation (else a warning or info)


def load_shapes(directory: Path, name: str) -> Graph | None:
    path = directory / name
    return Graph().parse(path, format="turtle") if path.is_file() else None


def validate(data: Graph, shapes: Graph) -> list[Violation]:
    import pyshacl  # imported late: heavy, and the service's hot paths never need it

    _, report, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none", allow_warnings=True)
    out: list[Violation] = []
    for res in _top_level_results(report):
        focus, path = report.value(res, SH.focusNode), report.value(res, SH.resultPath)
        shape = report.value(res, SH.sourceShape)
        fix = shapes.value(shape, SPAKG.fix) if shape is not None else None
        entity = name_of(data, focus)
        text = f"{entity}{f' ({curie(path)})' if path is not None else ''}: " \
               f"{report.value(res, SH.resultMessage) or 'violates a shape'}"
        details = sorted(f"{curie(report.value(d, SH.resultPath))}: {report.value(d, SH.resultMessage)}"
                         for d in report.objects(res, SH.detail) if report.value(d, SH.resultPath) is not None)
        if details:  # an sh:node constraint's own message is general; its details say what exactly is wrong
            text = f"{text.rstrip('.')} ({'; '.join(details)})."
        violation = Violation(entity, text, str(fix) if fix is not None else None,
                              report.value(res, SH.resultSeverity) == SH.Violation)
        if violation not in out:  # one fault can break two constraints of one property shape
            out.append(violation)
    return out


def _top_level_results(report: Graph) -> list:
    """The report's own results; the nested sh:detail results of sh:node constraints only restate them."""
    return sorted(r for rep in report.subjects(RDF.type, SH.ValidationReport) for r in report.objects(rep, SH.result))


def name_of(graph: Graph, node: object) -> str:
    """A blank node (an item, a comparison or a patient finding written inline) is named by what holds it."""
    if isinstance(node, BNode):
        for holder, prop in graph.subject_predicates(node):
            return f"{name_of(graph, holder)} → {curie(prop)}"
        name = graph.value(node, PT.id) or graph.value(node, RDFS.label)
        kind = graph.value(node, RDF.type)
        return f"{curie(kind) if kind is not None else 'a resource'} {str(name)!r}" if name is not None else \
            f"an unnamed {curie(kind) if kind is not None else 'resource'}"
    return curie(node)


def curie(iri: object) -> str:
    """spakg:AsasIbpCriteria rather than the full IRI, for text a person reads; the longest namespace wins."""
    text = str(iri)
    matches = [(len(str(ns)), prefix) for prefix, ns in PREFIXES.items() if text.startswith(str(ns))]
    if not matches:
        return text
    _, prefix = max(matches)
    return f"{prefix}:{text[len(str(PREFIXES[prefix])):]}"
