"""SHACL shapes (ontology/shapes.ttl, run with pySHACL) for the rule vocabulary and the patient-fact vocabulary.
A shape may carry ``spakg:fix``, the advice printed with each of its violations."""

from __future__ import annotations

from rdflib.namespace import SH

from ..knowledge import SHAPES_FILE
from ..namespaces import RDF
from ..shapes import load_shapes, validate
from .base import Check, CheckContext, CheckResult


class ShapesConform(Check):
    id = "shacl"
    title = "SHACL shapes for the rule and patient-fact vocabularies pass"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        try:
            shapes = load_shapes(ctx.directory, SHAPES_FILE)
        except Exception as exc:  # rdflib raises many kinds
            result.error(SHAPES_FILE, f"{SHAPES_FILE} does not parse as Turtle: {exc}", "Correct its Turtle syntax.")
            return
        if shapes is None:
            result.error(SHAPES_FILE, f"There is no {ctx.directory / SHAPES_FILE}.",
                         f"Restore {SHAPES_FILE}: the shapes of the rule and patient-fact vocabularies live there.")
            return
        for v in validate(ctx.graph, shapes):  # type: ignore[arg-type]
            advice = v.fix or "Make the resource match the shape named in shapes.ttl."
            (result.error if v.severe else result.warning)(v.entity, v.text, advice)
        result.examined = f"{len(set(shapes.subjects(RDF.type, SH.NodeShape)))} node shapes"
