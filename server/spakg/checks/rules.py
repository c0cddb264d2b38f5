"""The rules compile: every reference resolves to an existing class, rule or quantity; every rule has a source and
a threshold a patient can reach; no rule depends on its own conclusion. The compiler itself finds these (the same
code the service loads with), so the check and the service can never disagree."""

from __future__ import annotations

from ..errors import OntologyError, OntologyProblems
from ..knowledge import Knowledge
from ..shapes import curie
from .base import Check, CheckContext, CheckResult


class RulesCompile(Check):
    id = "rules"
    title = "every rule compiles: known classes, a source, a reachable threshold, no cycle"
    needs = ("snapshot", "graph")

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        try:
            ctx.knowledge = Knowledge.compile(ctx.snapshot, ctx.graph)  # type: ignore[arg-type]
        except OntologyProblems as problems:
            for err in problems.problems:
                _report(result, err)
        except OntologyError as err:
            _report(result, err)
        if ctx.knowledge is not None:
            result.examined = f"{len(ctx.knowledge.rules.rules)} rules, {len(ctx.knowledge.concepts)} classes"


def _report(result: CheckResult, err: OntologyError) -> None:
    result.error(curie(err.entity) if err.entity else "rules.ttl", err.message,
                 err.fix or "Correct the rule as the message says.")
