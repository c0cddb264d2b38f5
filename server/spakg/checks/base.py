"""What every check shares: a finding, a check's result, the context checks read, and the Check base class.

Like pySHACL's constraint components, each check evaluates itself and writes its own entries into its result:
``result.error(entity, message, fix)``. A finding always names the entity at fault, the check, and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rdflib import Graph

from ..article import Article
from ..resources import article_path

if TYPE_CHECKING:
    from ..knowledge import Knowledge, OntologySnapshot


class Severity(StrEnum):
    ERROR = "error"      # the ontology is not fit to serve
    WARNING = "warning"  # worth a look before merging; serving is allowed


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    entity: str  # a CURIE, an IRI or a file name
    message: str
    fix: str

    def as_dict(self) -> dict:
        return {"check": self.check, "severity": self.severity.value, "entity": self.entity,
                "message": self.message, "fix": self.fix}


@dataclass
class CheckResult:
    id: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    examined: str = ""            # what the check looked at ("99 classes")
    skipped: str | None = None    # why it did not run
    seconds: float = 0.0

    def error(self, entity: str, message: str, fix: str) -> None:
        self.findings.append(Finding(self.id, Severity.ERROR, entity, message, fix))

    def warning(self, entity: str, message: str, fix: str) -> None:
        self.findings.append(Finding(self.id, Severity.WARNING, entity, message, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skipped"
        return "failed" if self.errors else "warned" if self.warnings else "passed"


@dataclass
class CheckContext:
    """What the checks read. Earlier checks fill in later ones' inputs: ``turtle`` the graph, ``rules`` the
    compiled knowledge; a check whose input is missing is skipped with the reason."""

    directory: Path
    snapshot: OntologySnapshot | None = None
    graph: Graph | None = None
    knowledge: Knowledge | None = None
    competency_dir: Path | None = None

    @cached_property
    def article(self) -> Article:
        return Article.load(article_path())


class Check:
    id: ClassVar[str]
    title: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("graph",)  # CheckContext attributes that must be set for the check to run

    def run(self, ctx: CheckContext, result: CheckResult) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
