"""Every ontology file parses as Turtle. The merged graph it builds is what the other checks read."""

from __future__ import annotations

from ..errors import OntologyError
from .base import Check, CheckContext, CheckResult


class TurtleParses(Check):
    id = "turtle"
    title = "every file parses as Turtle"
    needs = ("snapshot",)

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        snapshot = ctx.snapshot
        assert snapshot is not None

        def broken(err: OntologyError) -> None:
            result.error(err.entity or "ontology", err.message, err.fix or "Correct the Turtle syntax.")

        graph = snapshot.parse(on_error=broken)
        result.examined = f"{len(snapshot.files)} files, {len(graph)} triples"
        if not result.errors:
            ctx.graph = graph
