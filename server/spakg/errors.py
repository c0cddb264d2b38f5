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
    """The ontology cannot be compiled: a broken rule, a rule cycle, a missing class."""

    code = "ONTOLOGY_ERROR"
