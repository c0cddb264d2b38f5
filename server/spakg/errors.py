"""Errors a caller can act on: each has a stable code and a message that says what to fix."""

from __future__ import annotations

from typing import Any


class SpakgError(Exception):
    """Base class; ``code`` goes to GraphQL ``extensions.code`` and CLI output."""

    code = "SPAKG_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnknownConcept(SpakgError):
    code = "UNKNOWN_CONCEPT"


class UnknownRule(SpakgError):
    code = "UNKNOWN_RULE"


class ContradictoryFacts(SpakgError):
    code = "CONTRADICTORY_FACTS"


class InvalidValue(SpakgError):
    code = "INVALID_VALUE"


class InvalidFacts(SpakgError):
    """Patient facts that cannot be read (bad RDF, bad JSON shape)."""

    code = "INVALID_FACTS"


class TooManyFindings(SpakgError):
    code = "TOO_MANY_FINDINGS"


class OntologyError(SpakgError):
    """The ontology cannot be compiled: a broken rule, a rule cycle, a missing class.

    ``entity`` names the resource at fault (an IRI or a file name) and ``fix`` tells the knowledge engineer what to
    change; ``spakg check`` prints both.
    """

    code = "ONTOLOGY_ERROR"

    def __init__(self, message: str, *, entity: str | None = None, fix: str | None = None, **details: Any) -> None:
        super().__init__(message, entity=entity, fix=fix, **details)
        self.entity = entity
        self.fix = fix


class OntologyProblems(OntologyError):
    """Every problem found while compiling, so that one run of ``spakg check`` lists them all."""

    def __init__(self, problems: list[OntologyError]) -> None:
        first = problems[0]
        message = first.message if len(problems) == 1 else (
            f"{len(problems)} problems: " + " | ".join(p.message for p in problems))
        super().__init__(message, entity=first.entity, fix=first.fix)
        self.problems = problems
