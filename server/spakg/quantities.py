"""Numbers about a patient, as the ontology declares them (``pt:Quantity`` in rule-vocabulary.ttl).

A quantity rides on a finding class (``pt:ageAtOnset`` on BackPain, and its subclasses) or on the patient as a whole
(``pt:appliesTo pt:Patient``: the patient's age, a measurement). Each has a unit and a plausible range; a value
outside it is refused as impossible. A score (``pt:Score``: BASDAI, ASDAS) is a patient-level quantity computed by its
formula; its range is the formula's (set by ``FactSpace`` once the formulas are read). Values live in a patient's
slots as intervals ``(low, high)``: a stated value is ``(v, v)``; an unknown value with a bound derived from other
facts, or a score with some input unknown, is a wider interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rdflib import Graph

from .concepts import ConceptIndex, local_name
from .errors import InvalidValue, OntologyError
from .namespaces import PT, RDF, RDFS

PATIENT_LEVEL = "patient"


@dataclass(frozen=True)
class Quantity:
    name: str
    iri: str
    label: str
    unit: str
    minimum: float
    maximum: float
    applies_to: frozenset[str]       # concept ids (the declared classes and their subclasses); empty if patient-level
    declared_on: tuple[str, ...]
    patient_level: bool
    index: int
    range_basis: str | None = None
    description: str | None = None
    score: bool = False              # computed by a formula (pt:Score), not measured

    @property
    def where(self) -> str:
        return "the patient" if self.patient_level else ", ".join(self.declared_on)


class QuantityTable:
    """The declared quantities and the integer slot of each (finding class, quantity) pair."""

    def __init__(self, graph: Graph, concepts: ConceptIndex, concept_index: dict[str, int]) -> None:
        self.concept_index = concept_index
        self.by_name: dict[str, Quantity] = {}
        scores = set(graph.subjects(RDF.type, PT.Score))
        for i, node in enumerate(sorted(set(graph.subjects(RDF.type, PT.Quantity)) | scores, key=str)):
            name = local_name(str(node))
            targets = list(graph.objects(node, PT.appliesTo))
            patient_level = PT.Patient in targets
            declared = [concepts.find(str(t)) for t in targets if t != PT.Patient]
            declared = [c for c in declared if c is not None]
            minimum, maximum = _number(graph, node, PT.minValue, 0.0), _number(graph, node, PT.maxValue, math.inf)
            self.by_name[name] = Quantity(
                name=name, iri=str(node), label=str(graph.value(node, RDFS.label) or name),
                unit=str(graph.value(node, PT.unit) or ""), minimum=minimum, maximum=maximum,
                applies_to=frozenset(d.id for c in declared for d in [c, *c.descendants]),
                declared_on=tuple(sorted(c.id for c in declared)), patient_level=patient_level, index=i,
                range_basis=_str(graph.value(node, PT.rangeBasis)), description=_str(graph.value(node, RDFS.comment)),
                score=node in scores)
        self.count = max(len(self.by_name), 1)
        self.finding_names = tuple(n for n, q in sorted(self.by_name.items()) if not q.patient_level)
        self.patient_names = tuple(n for n, q in sorted(self.by_name.items()) if q.patient_level)
        self.measured_names = tuple(n for n in self.patient_names if not self.by_name[n].score)

    def set_range(self, name: str, minimum: float, maximum: float) -> None:
        """A score's range, once its formula is known."""
        self.by_name[name] = replace(self.by_name[name], minimum=minimum, maximum=maximum)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Quantity:
        return self.by_name[name]

    def __iter__(self):
        return iter(self.by_name)

    def get(self, name: str) -> Quantity | None:
        return self.by_name.get(name)

    def slot(self, name: str, concept_index: int | None = None) -> int:
        """Where a value lives: on a finding class (by its observable index), or on the patient."""
        q = self.by_name[name]
        return -1 - q.index if q.patient_level else concept_index * self.count + q.index  # type: ignore[operator]

    def check(self, q: Quantity, value: object, who: str) -> float:
        """The value as a float, or InvalidValue saying what range it must be in."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidValue(f"{q.name} of {who} must be a finite number (got {value!r}).", quantity=q.name)
        if not q.minimum <= value <= q.maximum:
            raise InvalidValue(f"{q.name} of {who} is {value:g} {q.unit}; it must be between {q.minimum:g} and "
                               f"{q.maximum:g} {q.unit}.", quantity=q.name, value=value)
        return float(value)


def _number(graph: Graph, node, prop, default: float) -> float:
    value = graph.value(node, prop)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise OntologyError(f"{local_name(str(node))}: {local_name(str(prop))} is {str(value)!r}, not a number.",
                            entity=str(node), fix="Write the bound as a plain number (no quotes).") from None


def _str(value: object) -> str | None:
    return None if value is None else str(value)
