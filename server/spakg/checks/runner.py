"""Run every check over an ontology directory, in order, and gather one report."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import OntologyError
from ..knowledge import OntologySnapshot
from .base import Check, CheckContext, CheckResult
from .competency import CompetencyQuestionsAnswer
from .labels import LabelAndDefinition
from .names import UniqueNames
from .provenance import QuotesMatchTheArticle
from .reasoner import HermitConsistency
from .report import Report
from .rules import RulesCompile
from .shacl import ShapesConform
from .turtle import TurtleParses

log = logging.getLogger("spakg.check")

# Cheap checks first; the order is also the order of the report.
CHECKS: tuple[Check, ...] = (
    TurtleParses(), LabelAndDefinition(), UniqueNames(), QuotesMatchTheArticle(), RulesCompile(), ShapesConform(),
    HermitConsistency(), CompetencyQuestionsAnswer(),
)
CHECK_IDS = tuple(c.id for c in CHECKS)

_WHY_MISSING = {
    "snapshot": "the ontology directory could not be read",
    "graph": "the Turtle does not parse",
    "competency_dir": "no competency questions directory",
}


def run_checks(directory: Path | str, skip: Iterable[str] = (), competency_dir: Path | None = None) -> Report:
    ctx = CheckContext(Path(directory), competency_dir=competency_dir if competency_dir and competency_dir.is_dir() else None)
    results: list[CheckResult] = []
    try:
        ctx.snapshot = OntologySnapshot.read(ctx.directory)
    except OntologyError as err:
        unreadable = CheckResult("read", "the ontology directory can be read")
        unreadable.error(err.entity or str(directory), err.message, err.fix or "Give the right directory.")
        results.append(unreadable)
    skipped = set(skip)
    for check in CHECKS:
        result = CheckResult(check.id, check.title)
        missing = [need for need in check.needs if getattr(ctx, need) is None]
        if check.id in skipped:
            result.skipped = "skipped on request (--skip)"
        elif missing:
            result.skipped = f"not run: {_WHY_MISSING[missing[0]]}"
        else:
            started = time.perf_counter()
            try:
                check.run(ctx, result)
            except Exception as exc:  # a check that breaks must not hide the others' findings
                log.exception("check %s failed", check.id)
                result.error(check.id, f"The check itself failed: {type(exc).__name__}: {exc}",
                             "Look at the last edit near what the message names; report it if the ontology looks right.")
            result.seconds = time.perf_counter() - started
        results.append(result)
    return Report(ctx.directory, ctx.snapshot.content_hash if ctx.snapshot else None, results, ctx.knowledge)
