"""SHACL shapes (ontology/shapes.ttl, run with pySHACL) for the rule vocabulary and the patient-fact vocabulary.

A shape may carry ``spakg:fix``, the advice printed with each of its violations."""

from __future__ import annotations

from rdflib import BNode, Graph
from rdflib.namespace import SH

from ..knowledge import SHAPES_FILE
from ..namespaces import RDF, SPAKG
from .base import Check, CheckContext, CheckResult, curie


def _top_level_results(report: Graph) -> list:
    """The report's own results; the nested sh:detail results of sh:node constraints only restate them."""
    return sorted(r for rep in report.subjects(RDF.type, SH.ValidationReport) for r in report.objects(rep, SH.result))


def _name(graph: Graph, node: object) -> str:
    """A blank node (an item or a comparison written inline) is named by the resource that holds it."""
    if isinstance(node, BNode):
        for holder, prop in graph.subject_predicates(node):
            return f"{_name(graph, holder)} → {curie(prop)}"
    return curie(node)


def load_shapes(ctx: CheckContext) -> Graph | None:
    path = ctx.directory / SHAPES_FILE
    return Graph().parse(path, format="turtle") if path.is_file() else None


class ShapesConform(Check):
    id = "shacl"
    title = "SHACL shapes for the rule and patient-fact vocabularies pass"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        import pyshacl  # imported late: only the checks need it

        path = ctx.directory / SHAPES_FILE
        try:
            shapes = load_shapes(ctx)
        except Exception as exc:  # rdflib raises many kinds
            result.error(SHAPES_FILE, f"{SHAPES_FILE} does not parse as Turtle: {exc}", "Correct its Turtle syntax.")
            return
        if shapes is None:
            result.error(SHAPES_FILE, f"There is no {path}.",
                         f"Restore {SHAPES_FILE}: the shapes of the rule and patient-fact vocabularies live there.")
            return
        _, report, _ = pyshacl.validate(ctx.graph, shacl_graph=shapes, inference="none", allow_warnings=True)
        seen: set[tuple[str, str]] = set()
        for res in _top_level_results(report):
            focus, path_node = report.value(res, SH.focusNode), report.value(res, SH.resultPath)
            message = str(report.value(res, SH.resultMessage) or "violates a shape")
            shape = report.value(res, SH.sourceShape)
            fix = shapes.value(shape, SPAKG.fix) if shape is not None else None
            entity = _name(ctx.graph, focus)
            text = f"{entity}{f' ({curie(path_node)})' if path_node is not None else ''}: {message}"
            if (entity, text) in seen:  # one fault can break two constraints of a property shape
                continue
            seen.add((entity, text))
            advice = str(fix) if fix is not None else "Make the resource match the shape named in shapes.ttl."
            if report.value(res, SH.resultSeverity) == SH.Violation:
                result.error(entity, text, advice)
            else:
                result.warning(entity, text, advice)
        shape_count = len(set(shapes.subjects(RDF.type, SH.NodeShape)))
        result.examined = f"{shape_count} node shapes"
