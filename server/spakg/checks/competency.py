"""Competency questions: SPARQL questions an educator or a clinician asks of the knowledge, each with its expected
answer beside it (``NAME.rq`` and ``NAME.csv``). A changed answer is an error: either the edit broke the knowledge,
or the knowledge grew and the expected answer must be updated on purpose.

The expected answer is CSV with the SELECT variables as its header, IRIs written as CURIEs (spakg:Uveitis) and rows
in any order (an ASK question: the header ``ask`` and one row, true or false).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, URIRef

from ..shapes import curie
from .base import Check, CheckContext, CheckResult


@dataclass(frozen=True)
class CompetencyQuestion:
    name: str
    question: str  # the "# Q:" comment at the top of the .rq file
    query: str
    expected_path: Path

    @classmethod
    def read(cls, path: Path) -> CompetencyQuestion:
        text = path.read_text(encoding="utf-8")
        question = " ".join(line.lstrip("# ").removeprefix("Q:").strip() for line in text.splitlines()
                            if line.startswith("# Q:") or line.startswith("#   "))
        return cls(path.stem, question or path.stem, text, path.with_suffix(".csv"))

    def answer(self, graph: Graph) -> list[list[str]]:
        """The header then the rows, as the expected file writes them."""
        result = graph.query(self.query)
        if result.type == "ASK":
            return [["ask"], [str(bool(result.askAnswer)).lower()]]
        if result.type != "SELECT":
            raise ValueError(f"a competency question is a SELECT or an ASK query, not {result.type}")
        names = [str(v) for v in result.vars or ()]
        rows = [[_cell(row[i]) for i in range(len(names))] for row in result]
        return [names, *rows]

    def expected(self) -> list[list[str]]:
        with self.expected_path.open(encoding="utf-8", newline="") as f:
            return [row for row in csv.reader(f) if row]


def questions(directory: Path) -> list[CompetencyQuestion]:
    return [CompetencyQuestion.read(p) for p in sorted(directory.glob("*.rq"))]


def to_csv(table: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([table[0], *sorted(table[1:])])
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    return curie(value) if isinstance(value, URIRef) else str(value)


class CompetencyQuestionsAnswer(Check):
    id = "competency"
    title = "competency questions give their expected answers"
    needs = ("graph", "competency_dir")

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        found = questions(ctx.competency_dir)  # type: ignore[arg-type]
        for cq in found:
            where = f"{cq.name}.rq"
            if not cq.expected_path.is_file():
                result.error(where, f"'{cq.question}' has no expected answer.",
                             f"Write {cq.expected_path.name} beside it (see `spakg check --show-answers`).")
                continue
            try:
                actual = cq.answer(ctx.graph)  # type: ignore[arg-type]
            except Exception as exc:  # rdflib raises many kinds of SPARQL errors
                result.error(where, f"The query does not run: {exc}", "Correct the SPARQL.")
                continue
            expected = cq.expected()
            if not expected:
                result.error(where, f"{cq.expected_path.name} is empty.", "Give the header row, then the answer rows.")
                continue
            if actual[0] != expected[0]:
                result.error(where, f"'{cq.question}' answers with columns {actual[0]}, the expected file has "
                                    f"{expected[0]}.", f"Align the SELECT variables and the header of {cq.expected_path.name}.")
                continue
            missing = _difference(expected[1:], actual[1:])
            extra = _difference(actual[1:], expected[1:])
            if missing or extra:
                parts = []
                if missing:
                    parts.append("no longer answers " + "; ".join(",".join(r) for r in missing))
                if extra:
                    parts.append("now also answers " + "; ".join(",".join(r) for r in extra))
                result.error(where, f"'{cq.question}' {' and '.join(parts)}.",
                             f"If the edit meant to change this answer, update {cq.expected_path.name} "
                             f"(`spakg check --show-answers` prints the new one); otherwise the edit broke the knowledge.")
        result.examined = f"{len(found)} questions"


def _difference(a: list[list[str]], b: list[list[str]]) -> list[list[str]]:
    remaining = list(b)
    out = []
    for row in a:
        if row in remaining:
            remaining.remove(row)
        else:
            out.append(row)
    return out
