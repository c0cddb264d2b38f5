"""Teaching cases: the clinical vignettes (``tests/vignettes``, shipped in the package) told as stories; a student
predicts each criterion's outcome, then sees the outcome the reasoner gives with its proof and which single change
of the case would change it ("what if HLA-B27 were negative?": each a link that assesses the changed case)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..assessment import Assessment
from ..errors import SpakgError
from ..knowledge import Knowledge
from ..rules import STATUS_NAMES, Rule
from ..vignettes import Vignette, load_vignettes
from .patient_query import query_from_patient

PREDICTIONS = ("MET", "NOT_MET", "UNDETERMINED")


def teaching_rules(k: Knowledge) -> list[Rule]:
    """The rules a student predicts: the criteria and the article's patterns and advice; a score's categories are
    read off the score and left out."""
    return [r for r in k.rules.order if r.category_of is None]


@dataclass(frozen=True)
class WhatIf:
    said: str           # "HLA-B27 positive were absent"
    query: str          # the changed case, for /assess
    changes: dict[str, str] = field(default_factory=dict)  # rule id -> its status in the changed case


def what_ifs(k: Knowledge, patient: dict) -> list[WhatIf]:
    """Each stated finding turned the other way (a present one absent, with its numbers dropped; an absent one
    present), and the rules whose outcome that changes."""
    base = _statuses(k, patient)
    out: list[WhatIf] = []
    for n, finding in enumerate(patient.get("findings", ())):
        concept = k.concepts.find(str(finding.get("concept", "")))
        if concept is None:
            continue
        present = finding.get("present", True)
        changed = copy.deepcopy(patient)
        changed["findings"][n] = {"concept": finding["concept"], "present": not present}
        try:
            after = _statuses(k, changed)
        except SpakgError:  # the other way contradicts the rest of the case (a subtype still stated, say)
            continue
        moved = {rule: status for rule, status in after.items() if base.get(rule) != status}
        out.append(WhatIf(f"{concept.label} were {'absent' if present else 'present'}", query_from_patient(changed),
                          moved))
    return out


def _statuses(k: Knowledge, patient: dict) -> dict[str, str]:
    a = Assessment(k, k.facts.read(patient))
    return {rule.id: STATUS_NAMES[s] for rule, s in zip(k.rules.order, a.statuses, strict=True)}


class CaseBook:
    """The vignettes, read on first use (a malformed one is left out, not fatal: the explorer keeps serving)."""

    def __init__(self) -> None:
        self._cases: dict[str, Vignette] | None = None
        self.problem: str | None = None

    def all(self) -> dict[str, Vignette]:
        if self._cases is None:
            from ..resources import vignettes_dir

            try:
                self._cases = {v.id: v for v in load_vignettes(vignettes_dir())}
            except (FileNotFoundError, SpakgError) as exc:
                self._cases, self.problem = {}, str(exc)
        return self._cases
