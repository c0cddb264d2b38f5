"""Every ontology file parses as Turtle. The merged graph it builds is what the other checks read."""

from __future__ import annotations

from rdflib import Graph

from ..errors import OntologyError
from ..namespaces import PREFIXES
from .base import Check, CheckContext, CheckResult


class TurtleParses(Check):
    id = "turtle"
    title = "every file parses as Turtle"
    needs = ("snapshot",)

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        snapshot = ctx.snapshot
        assert snapshot is not None
        graph = Graph()
        for prefix, ns in PREFIXES.items():
            graph.bind(prefix, ns)
        for name in snapshot.files:
            try:
                snapshot.parse_file(name, graph)
            except OntologyError as err:
                result.error(name, err.message, err.fix or "Correct the Turtle syntax.")
        result.examined = f"{len(snapshot.files)} files, {len(graph)} triples"
        if not result.errors:
            ctx.graph = graph
