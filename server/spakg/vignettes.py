"""Clinical vignettes as data: a patient's facts and the outcome a clinician expects of each rule.

One JSON file per vignette (``tests/vignettes/*.json``)::

    {"id": "...", "title": "...", "story": "the case as a clinician tells it",
     "patient": {"id": "...", "age": 34, "sex": "FEMALE", "findings": [{"concept": "BackPain", "ageAtOnset": 27}, ...]},
     "expect": {"AsasIbpCriteria": "MET", "ModifiedNewYorkCriteria": "NOT_MET", ...}}

The test suite asserts every expectation; ``spakg regress`` shows how an ontology edit moves them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .assessment import Assessment
from .errors import InvalidFacts
from .knowledge import Knowledge
from .rules import STATUS_NAMES


@dataclass(frozen=True)
class Vignette:
    id: str
    title: str
    story: str
    patient: dict  # the patient record, as FactSpace.read takes it
    expect: dict[str, str]
    path: Path

    @property
    def findings(self) -> tuple[dict, ...]:
        return tuple(self.patient.get("findings", ()))

    @classmethod
    def read(cls, path: Path) -> Vignette:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            patient = dict(data["patient"])
            if "findings" not in patient:
                raise KeyError("patient.findings")
            expect = data["expect"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidFacts(f"{path.name} is not a vignette: {exc}. It needs patient.findings and expect.") from None
        wrong = {rule: status for rule, status in expect.items() if status not in STATUS_NAMES}
        if wrong:
            raise InvalidFacts(f"{path.name}: expected statuses must be one of {', '.join(STATUS_NAMES)} (got {wrong}).")
        patient.setdefault("id", str(data.get("id", path.stem)))
        return cls(str(data.get("id", path.stem)), str(data.get("title", "")), str(data.get("story", "")),
                   patient, dict(expect), path)

    def outcomes(self, knowledge: Knowledge) -> dict[str, str]:
        """Every rule's status for this patient under ``knowledge`` (raises SpakgError if the facts do not fit it)."""
        assessment = Assessment(knowledge, knowledge.facts.read(self.patient))
        return {rule.id: STATUS_NAMES[status]
                for rule, status in zip(knowledge.rules.order, assessment.statuses, strict=True)}


def load_vignettes(directory: Path) -> list[Vignette]:
    return [Vignette.read(p) for p in sorted(directory.glob("*.json"))]
