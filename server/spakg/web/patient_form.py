"""What the "try a patient" form asks, in the order a clinic learns it: the findings some criterion reads, grouped by
how they are learnt (the ontology's ``spakg:effortRank`` on the investigations: the history, the examination, the
laboratory, imaging), a clinician's diagnoses and judgements apart, and each score's questions in the score's own
order. Upper and abstract classes no criterion reads are not asked. Built once per ontology version."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import Literal

from ..concepts import Concept
from ..knowledge import Knowledge
from ..namespaces import SPAKG
from ..quantities import Quantity


@dataclass
class Section:
    key: str                 # an anchor
    title: str
    hint: str | None
    concepts: list[Concept] = field(default_factory=list)


@dataclass
class ScoreInputs:
    title: str
    quantities: list[Quantity]
    shared: list[Quantity]   # inputs asked under an earlier score, used by this one too


class PatientForm:
    def __init__(self, k: Knowledge) -> None:
        table = k.facts.quantities
        self.quantities = {c.id: [q for q in table.by_name.values() if c.id in q.declared_on] for c in k.facts.observable}
        read = set(k.rules.by_concept)
        asked = [c for c in k.facts.observable if c.id in read or self.quantities[c.id]]
        concluded = {r.concludes.id for r in k.rules.order if r.concludes is not None}
        self.diagnoses = sorted((c for c in asked if c.id in concluded), key=lambda c: c.label.lower())
        findings = [c for c in asked if c.id not in concluded]

        by_rank: dict[int, Concept] = {}  # the investigation class that declares each rank
        for node, value in k.graph.subject_objects(SPAKG.effortRank):
            concept = k.concepts.by_iri.get(str(node))
            if concept is not None and isinstance(value, Literal) and isinstance(value.toPython(), int):
                by_rank.setdefault(value.toPython(), concept)
        self.sections: list[Section] = []
        for rank in sorted({k.effort.rank(c) for c in findings}):
            named = by_rank.get(rank)
            section = Section(f"rank-{rank}", named.label if named else f"effort {rank}",
                              named.definition if named else None)
            section.concepts = sorted((c for c in findings if k.effort.rank(c) == rank), key=lambda c: c.label.lower())
            self.sections.append(section)

        self.scores: list[ScoreInputs] = []
        placed: set[str] = set()
        # the longest questionnaire first, whole and in its order; a score sharing its questions lists what it adds
        for d in sorted(k.scores.definitions, key=lambda d: (-len(d.formula.terms), d.id)):
            names = list(dict.fromkeys(t.quantity.name for t in d.formula.terms))
            new = [table[n] for n in names if n not in placed and n in table.measured_names]
            shared = [table[n] for n in names if n in placed]
            self.scores.append(ScoreInputs(d.quantity.label, new, shared))
            placed.update(names)
        others = [table[n] for n in table.measured_names if n not in placed and n != "age"]
        if others:
            self.scores.append(ScoreInputs("other measurements", others, []))
