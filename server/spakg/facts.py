"""Patient facts: findings present or absent (anything unmentioned is unknown), closed under the ontology.

The closure is compiled once into bit masks over the observable classes, so normalising a patient is a handful of
integer ORs: present(C) => C and its ancestors present, and every class disjoint with any of them (with their
subclasses) absent; absent(C) => C and its subclasses absent. Present & absent on one class is a contradiction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from rdflib import Graph, Literal, URIRef

from .concepts import Concept, ConceptIndex, local_name
from .errors import ContradictoryFacts, InvalidFacts, InvalidValue, TooManyFindings
from .namespaces import PT, RDF, RDFS

QUANTITY_NAMES = ("ageAtOnset", "durationMonths", "durationMinutes")


@dataclass(frozen=True)
class FindingInput:
    concept: str
    present: bool = True
    quantities: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping) -> FindingInput:
        if not isinstance(data, Mapping) or "concept" not in data:
            raise InvalidFacts(f"Each finding needs a 'concept' (got {data!r}).")
        present = data.get("present", True)
        if present is None:
            present = True
        if not isinstance(present, bool):
            raise InvalidValue(f"'present' must be true or false for {data['concept']!r} (got {present!r}).")
        quantities = {k: data[k] for k in QUANTITY_NAMES if data.get(k) is not None}
        unknown = set(data) - {"concept", "present", *QUANTITY_NAMES}
        if unknown:
            raise InvalidFacts(f"Unknown field(s) {sorted(unknown)} on finding {data['concept']!r}; "
                               f"allowed: concept, present, {', '.join(QUANTITY_NAMES)}.")
        return cls(str(data["concept"]), present, quantities)


@dataclass(frozen=True)
class Quantity:
    name: str
    iri: str
    label: str
    unit: str
    minimum: float
    maximum: float
    applies_to: frozenset[str]  # concept ids (the declared class and its subclasses)
    declared_on: tuple[str, ...]


@dataclass
class PatientFacts:
    """A patient's facts after closure. ``present``/``absent`` are bit masks over FactSpace.concepts."""

    patient_id: str | None
    findings: tuple[tuple[Concept, FindingInput], ...]
    present: int
    absent: int
    quantities: dict[int, dict[str, float]]

    def status_of(self, bit: int) -> bool | None:
        if self.present & bit:
            return True
        if self.absent & bit:
            return False
        return None


class FactSpace:
    """Compiled closure masks for the observable classes, and the quantities the ontology allows."""

    def __init__(self, concepts: ConceptIndex, graph: Graph, max_findings: int = 200) -> None:
        self.concepts = concepts
        self.max_findings = max_findings
        self.observable = [c for c in concepts if c.observable]
        self.index = {c.id: i for i, c in enumerate(self.observable)}
        self.bit = {cid: 1 << i for cid, i in self.index.items()}
        self.up = {}       # present(C) => these present
        self.down = {}     # absent(C)  => these absent
        for c in self.observable:
            self.up[c.id] = self._mask([c, *c.ancestors])
            self.down[c.id] = self._mask([c, *c.descendants])
        self.excluded = {}  # present(C) => these absent
        for c in self.observable:
            mask = 0
            for holder in [c, *c.ancestors]:
                for other in holder.disjoint_with:
                    if other.id in self.down:
                        mask |= self.down[other.id]
            self.excluded[c.id] = mask
        self.quantities = self._read_quantities(graph)

    def _mask(self, concepts: Iterable[Concept]) -> int:
        mask = 0
        for c in concepts:
            if c.id in self.bit:
                mask |= self.bit[c.id]
        return mask

    def _read_quantities(self, graph: Graph) -> dict[str, Quantity]:
        out: dict[str, Quantity] = {}
        for q in graph.subjects(RDF.type, PT.Quantity):
            name = local_name(str(q))
            declared = [self.concepts.find(str(c)) for c in graph.objects(q, PT.appliesTo)]
            declared = [c for c in declared if c is not None]
            applies = frozenset(d.id for c in declared for d in [c, *c.descendants])
            out[name] = Quantity(
                name=name, iri=str(q), label=str(graph.value(q, RDFS.label) or name),
                unit=str(graph.value(q, PT.unit) or ""),
                minimum=float(graph.value(q, PT.minValue) or 0), maximum=float(graph.value(q, PT.maxValue) or math.inf),
                applies_to=applies, declared_on=tuple(sorted(c.id for c in declared)),
            )
        return out

    # ------------------------------------------------------------------ building a patient
    def patient(self, findings: Iterable[FindingInput | Mapping], patient_id: str | None = None) -> PatientFacts:
        items = [f if isinstance(f, FindingInput) else FindingInput.from_mapping(f) for f in findings]
        if len(items) > self.max_findings:
            raise TooManyFindings(f"{len(items)} findings given; at most {self.max_findings} are accepted per patient.")
        resolved: list[tuple[Concept, FindingInput]] = []
        present = absent = 0
        for finding in items:
            concept = self.concepts.get(finding.concept)
            if not concept.observable:
                raise InvalidValue(
                    f"'{concept.id}' ({concept.label}) is not something a patient can have; patient facts name "
                    f"findings or diseases (subclasses of ClinicalFinding or Disease).", concept=concept.id)
            self._check_quantities(concept, finding)
            resolved.append((concept, finding))
            if finding.present:
                present |= self.up[concept.id]
                absent |= self.excluded[concept.id]
            else:
                absent |= self.down[concept.id]
        if present & absent:
            raise self._contradiction(resolved)
        return PatientFacts(patient_id, tuple(resolved), present, absent, self._quantities(resolved))

    def _check_quantities(self, concept: Concept, finding: FindingInput) -> None:
        for name, value in finding.quantities.items():
            q = self.quantities.get(name)
            if q is None:
                raise InvalidValue(f"Unknown quantity '{name}'; known: {', '.join(sorted(self.quantities))}.")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidValue(f"{name} of {concept.id} must be a finite number (got {value!r}).",
                                   concept=concept.id, quantity=name)
            if concept.id not in q.applies_to:
                raise InvalidValue(
                    f"{name} does not apply to {concept.id}; it rides on {', '.join(q.declared_on)} (or a subclass).",
                    concept=concept.id, quantity=name)
            if not finding.present:
                raise InvalidValue(f"{name} was given for {concept.id}, which is marked absent; "
                                   f"a quantity only makes sense on a present finding.", concept=concept.id)
            if not q.minimum <= value <= q.maximum:
                raise InvalidValue(
                    f"{name} of {concept.id} is {value:g} {q.unit}; it must be between {q.minimum:g} and "
                    f"{q.maximum:g} {q.unit}.", concept=concept.id, quantity=name, value=value)

    def _quantities(self, resolved: list[tuple[Concept, FindingInput]]) -> dict[int, dict[str, float]]:
        """Explicit values, then values carried up from a subclass (an IBP's onset age is its back pain's)."""
        out: dict[int, dict[str, float]] = {}
        for concept, finding in resolved:
            for name, value in finding.quantities.items():
                slot = out.setdefault(self.index[concept.id], {})
                if name in slot and slot[name] != value:
                    raise ContradictoryFacts(f"{concept.id} is given two values for {name}: {slot[name]:g} and {value:g}.",
                                             concept=concept.id)
                slot[name] = float(value)
        for concept, finding in resolved:
            for name, value in finding.quantities.items():
                for anc in concept.ancestors:
                    if anc.id in self.quantities[name].applies_to:
                        out.setdefault(self.index[anc.id], {}).setdefault(name, float(value))
        return out

    def _contradiction(self, resolved: list[tuple[Concept, FindingInput]]) -> ContradictoryFacts:
        def implied(c: Concept, f: FindingInput) -> tuple[int, int]:
            return (self.up[c.id], self.excluded[c.id]) if f.present else (0, self.down[c.id])

        for i, (ca, fa) in enumerate(resolved):
            pa, aa = implied(ca, fa)
            for cb, fb in resolved[i:]:
                pb, ab = implied(cb, fb)
                clash = (pa & ab) | (pb & aa)
                if not clash:
                    continue
                where = self.observable[(clash & -clash).bit_length() - 1]
                da, db = _describe(ca, fa), _describe(cb, fb)
                if ca is cb:
                    msg = f"{ca.id} is reported both present and absent. Keep one of the two findings."
                elif fa.present and fb.present:
                    msg = (f"{da} and {db} cannot both hold: {where.id} would be both present and absent "
                           f"(the ontology declares them disjoint). Correct one of the two findings.")
                else:
                    msg = (f"{da} contradicts {db}: it would make {where.id} both present and absent "
                           f"(through the class hierarchy). Correct one of the two findings.")
                return ContradictoryFacts(msg, facts=[da, db], concept=where.id)
        return ContradictoryFacts("The findings contradict each other.")  # unreachable for satisfiable classes

    # ------------------------------------------------------------------ RDF input
    def patients_from_rdf(self, data: str, fmt: str) -> list[PatientFacts]:
        return self.patients_from_graph(parse_patient_rdf(data, fmt))

    def patients_from_graph(self, graph: Graph) -> list[PatientFacts]:
        patients = sorted(graph.subjects(RDF.type, PT.Patient), key=str)
        if not patients:
            raise InvalidFacts("No pt:Patient found. Type the patient node 'a pt:Patient' "
                               "(pt: = https://w3id.org/spakg/patient/).")
        out = []
        for node in patients:
            findings = []
            for f in graph.objects(node, PT.hasFinding):
                concept = graph.value(f, PT.concept)
                if concept is None:
                    raise InvalidFacts("A pt:hasFinding node has no pt:concept.")
                present = graph.value(f, PT.present)
                # The value as written: FindingInput refuses anything but a boolean ("no" is not false).
                entry: dict = {"concept": str(concept), "present": True if present is None else _value(present)}
                for name in QUANTITY_NAMES:
                    v = graph.value(f, PT[name])
                    if v is not None:
                        entry[name] = _value(v)
                findings.append(entry)
            pid = graph.value(node, PT.id)
            out.append(self.patient(findings, str(pid) if pid is not None else (str(node) if isinstance(node, URIRef) else None)))
        return out


def parse_patient_rdf(data: str, fmt: str) -> Graph:
    graph = Graph()
    try:
        graph.parse(data=data, format=fmt)
    except Exception as exc:  # rdflib raises many kinds
        raise InvalidFacts(f"Cannot read the patient facts as {fmt}: {exc}") from None
    return graph


def _value(node: object) -> object:
    """A literal's Python value (xsd:decimal as a float, like JSON numbers); anything else as it is."""
    if not isinstance(node, Literal):
        return node
    value = node.toPython()
    return float(value) if isinstance(value, Decimal) else value


def _describe(c: Concept, f: FindingInput) -> str:
    return f"{c.id} {'present' if f.present else 'absent'}"

