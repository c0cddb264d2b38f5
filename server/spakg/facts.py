"""Patient facts: findings present or absent (anything unmentioned is unknown), closed under the ontology.

Each observable class has a bit. A stated finding ORs in the consequences its literal has under the ontology's
axioms (compiled once by ``logic.Closure``); the closure then adds what follows only from several facts together
(intersections, complements) and says when the facts cannot all hold. Present and absent on one class is a
contradiction, reported with the smallest set of facts and the axioms that clash.

A patient record: ``{"id", "age", "sex", "findings": [{"concept", "present", <finding quantities>}],
"measurements": {quantity: value}}``; quantities and their ranges come from the ontology (``quantities``), and so do
the bounds one quantity takes from others (``pt:atLeast`` a formula: the patient is at least as old as their back
pain's onset age plus its duration; ``pt:below`` a formula: the back pain began before the patient's age plus a year
less its duration) and the scores computed from measurements (``pt:Score``: BASDAI, ASDAS), which are
intervals while some of their inputs are unknown.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from rdflib import Graph, Literal, URIRef

from .concepts import Concept, ConceptIndex
from .errors import ContradictoryFacts, InvalidFacts, InvalidValue, OntologyError, TooManyFindings
from .formulas import Formula, read_formula
from .input_errors import rdf_error
from .logic import AxiomSet, Closure, Inconsistent, Named, bit_indices
from .logic.explain import justification, minimal_conflict, support
from .namespaces import PT, RDF
from .quantities import Quantity, QuantityTable

SEXES = ("MALE", "FEMALE")
RECORD_FIELDS = ("id", "age", "sex", "findings", "measurements")
_NO_QUANTITIES: Mapping[str, float] = {}


class StatedFinding(NamedTuple):
    concept: Concept
    present: bool
    quantities: Mapping[str, float]


@dataclass(frozen=True)
class Bound:
    """A bound one quantity takes from others: at least its formula (``pt:atLeast``: the patient is at least as old as
    the back pain's onset plus its duration) or strictly below it (``pt:below``: the back pain began before the age a
    year above the patient's age, less its duration). ``slot`` is where the bounded value lives: the patient's, or the
    quantity's on each class it is declared on (the back pain's onset)."""

    quantity: Quantity
    formula: Formula
    slot: int
    upper: bool
    of: str | None  # the finding class whose quantity is bounded (None: the patient's)
    idle: bool = False  # with every input unknown it bounds nothing (set once the bound is read)

    def limit(self, values: Mapping[int, tuple[float, float]]) -> float:
        """The formula's value at its end that bounds the quantity: its least (a lower bound: the quantity is at least
        this) or its greatest (an upper one: the quantity is below this)."""
        return self.formula.greatest(values) if self.upper else self.formula.least(values)

    def binds(self, limit: float) -> bool:
        """Whether the limit narrows the quantity's own range at all."""
        return limit < self.quantity.maximum if self.upper else limit > self.quantity.minimum

    def outside(self, value: tuple[float, float], limit: float) -> bool:
        """Whether a known value cannot meet the bound (every value it may be is on the wrong side)."""
        return value[0] >= limit if self.upper else value[1] < limit

    def impossible(self, limit: float) -> bool:
        """Whether no value in the quantity's range meets the bound."""
        return limit <= self.quantity.minimum if self.upper else limit > self.quantity.maximum

    def interval(self, limit: float) -> tuple[float, float]:
        """Where an unstated value lies, given the bound (below an upper one: up to the greatest number below it)."""
        return (self.quantity.minimum, math.nextafter(limit, -math.inf)) if self.upper else \
            (limit, self.quantity.maximum)

    @property
    def name(self) -> str:
        return self.quantity.name if self.of is None else f"{self.quantity.name} of {self.of}"

    def relation(self) -> str:
        return f"{self.name} {'<' if self.upper else '≥'} {self.formula.describe()}"


class StatedIndex(NamedTuple):
    present: int   # classes stated present (bits)
    absent: int    # classes stated absent
    first: dict[int, StatedFinding]  # stated literal -> the first finding that states it (in the order given)


@dataclass(slots=True)
class PatientFacts:
    """A patient's facts after closure. ``present``/``absent`` are bit masks over the closure's atoms (the observable
    classes first); ``quantities`` maps a slot (see QuantityTable.slot) to an interval (low, high)."""

    patient_id: str | None
    stated: tuple[tuple, ...]  # (concept, present, quantities) per stated finding, in the order given
    literals: tuple[int, ...]  # the stated literals, in the order of ``findings``
    present: int
    absent: int
    quantities: dict[int, tuple[float, float]]
    sex: str | None = None
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def findings(self) -> tuple[StatedFinding, ...]:
        return tuple(StatedFinding._make(t) for t in self.stated)

    def status_of(self, bit: int) -> bool | None:
        if self.present & bit:
            return True
        if self.absent & bit:
            return False
        return None


class FactSpace:
    """The observable classes, the compiled closure, and the quantities the ontology allows."""

    def __init__(self, concepts: ConceptIndex, graph: Graph, axioms: AxiomSet, max_findings: int = 200) -> None:
        self.concepts = concepts
        self.max_findings = max_findings
        self.observable = [c for c in concepts if c.observable]
        self.index = {c.id: i for i, c in enumerate(self.observable)}
        self.bit = {cid: 1 << i for cid, i in self.index.items()}
        self.closure = Closure([Named(c.iri) for c in self.observable], axioms)
        self.quantities = QuantityTable(graph, concepts, self.index)
        self.bounds: list[Bound] = self._read_bounds(graph, concepts)
        self.scores: list[tuple[Quantity, Formula]] = [self._score_formula(graph, concepts, name)
                                                       for name in self.quantities.patient_names
                                                       if self.quantities[name].score]
        self.score_formulas = {self.quantities.slot(q.name): f for q, f in self.scores}
        self._score_defaults = {slot: f.interval({}) for slot, f in self.score_formulas.items()}
        # The numbers of every patient who gives none (the scores' whole ranges): one read-only object, so the rules
        # know such a patient by identity and take their variant compiled for exactly these numbers.
        self.plain_values: Mapping[int, tuple[float, float]] = MappingProxyType(dict(self._score_defaults))
        lit = self.closure.lit
        # The findings loop's table: concept id -> (as if present, as if absent), each (P, A, literal, the stated
        # tuple), so a finding with no numbers costs two lookups and shares its tuple with every patient.
        self._literals_of = {c.id: ((*lit[2 * i], 2 * i, (c, True, _NO_QUANTITIES)),
                                    (*lit[2 * i + 1], 2 * i + 1, (c, False, _NO_QUANTITIES)))
                             for i, c in enumerate(self.observable)}
        self._carry: dict[tuple[int, str], tuple[int, ...]] = {}
        self._implied_by = self._invert(lit)
        self._number_specs = self._number_table()
        # measurement name -> (minimum, maximum, its slot): the quick test of _measurements (NaN bounds: no quick test)
        self._measured = {n: ((q.minimum, q.maximum) if math.isfinite(q.minimum) and math.isfinite(q.maximum)
                              else (math.nan, math.nan)) + (self.quantities.slot(n),)
                          for n in self.quantities.patient_names for q in [self.quantities[n]]}
        self.influence = [self._influence(i) for i in range(len(self.observable))]

    def _read_bounds(self, graph: Graph, concepts: ConceptIndex) -> list[Bound]:
        """Each quantity's bounds (pt:atLeast, pt:below a formula), lower bounds first: an upper bound reads the
        patient's age, which a lower bound may have narrowed."""
        out = []
        for upper, prop in ((False, PT.atLeast), (True, PT.below)):
            for name in self.quantities:
                node = graph.value(PT[name], prop)
                if node is None:
                    continue
                q = self.quantities[name]
                formula = read_formula(graph, node, concepts, self.quantities, self.index)
                targets = [(self.quantities.slot(name), None)] if q.patient_level else \
                    [(self.quantities.slot(name, self.index[cid]), cid) for cid in q.declared_on if cid in self.index]
                for slot, cid in targets:  # a finding's number: on each class it is declared on
                    bound = Bound(q, formula, slot, upper, cid)
                    out.append(replace(bound, idle=not bound.binds(bound.limit({}))))
        return out

    def _score_formula(self, graph: Graph, concepts: ConceptIndex, name: str) -> tuple[Quantity, Formula]:
        """A score's formula; its range becomes the formula's range over its inputs' ranges."""
        formula = read_formula(graph, URIRef(self.quantities[name].iri), concepts, self.quantities, self.index)
        for term in formula.terms:
            if term.quantity.score or not term.quantity.patient_level:
                raise OntologyError(f"The score {name} reads {term.quantity.name}, which is "
                                    f"{'another score' if term.quantity.score else 'a number on a finding'}.",
                                    entity=self.quantities[name].iri,
                                    fix="Build a score from patient measurements (pt:appliesTo pt:Patient) only.")
        self.quantities.set_range(name, *formula.interval({}))
        return self.quantities[name], formula

    def _influence(self, i: int) -> int:
        """Every class an answer about class i (present or absent) could change: its literals' consequences, and
        whatever a definition they touch could then entail."""
        closure = self.closure
        mask = 0
        for lit in (2 * i, 2 * i + 1):
            p, a = closure.lit[lit]
            mask |= p | a
        for comp in closure.components:
            if comp.mask & mask:
                for _, _, cp, ca in comp.valid:
                    mask |= cp | ca
        return mask

    def _invert(self, lit: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """For each literal of an observable class: which classes, stated present / stated absent, imply it."""
        n = len(self.observable)
        obs_mask = (1 << n) - 1
        by = [[0, 0] for _ in range(2 * n)]
        for i in range(n):
            for polarity in (0, 1):
                p, a = lit[2 * i + polarity]
                for j in bit_indices(p & obs_mask):
                    by[2 * j][polarity] |= 1 << i
                for j in bit_indices(a & obs_mask):
                    by[2 * j + 1][polarity] |= 1 << i
        return [(x[0], x[1]) for x in by]

    # ------------------------------------------------------------------ building a patient
    def read(self, record: Mapping) -> PatientFacts:
        """A whole patient record ({"id", "findings", "sex", "measurements"}); unknown fields are refused."""
        if not isinstance(record, Mapping):
            raise InvalidFacts(f"A patient is a JSON object with 'findings' (got {type(record).__name__}).")
        unknown = set(record) - set(RECORD_FIELDS)
        if unknown:
            raise InvalidFacts(f"Unknown field(s) {sorted(unknown)} on a patient; allowed: {', '.join(RECORD_FIELDS)}.")
        findings = record.get("findings", [])
        if not isinstance(findings, list | tuple):
            raise InvalidFacts("'findings' must be a list of findings ({\"concept\": ..., \"present\": ...}).")
        pid = record.get("id")
        measurements = record.get("measurements")
        if record.get("age") is not None:
            if "age" not in self.quantities:
                raise InvalidFacts("This ontology declares no pt:age; give the age as a measurement it knows.")
            listed = _pairs(measurements) if isinstance(measurements, list) else (measurements or {}).items()
            measurements = {**dict(listed), "age": record["age"]}
        return self.patient(findings, None if pid is None else str(pid), sex=record.get("sex"),
                            measurements=measurements)

    def patient(self, findings: Iterable[Mapping], patient_id: str | None = None, *, sex: str | None = None,
                measurements: Mapping[str, float] | Iterable[Mapping] | None = None) -> PatientFacts:
        if type(findings) is not list and not isinstance(findings, list | tuple):
            findings = list(findings)
        if len(findings) > self.max_findings:
            raise TooManyFindings(f"{len(findings)} findings given; at most {self.max_findings} are accepted per patient.")
        literals_of = self._literals_of
        p = a = 0
        stated: list[tuple] = []
        literals: list[int] = []
        numbers: list[tuple[Concept, str, int, tuple[int, ...], float]] = []
        for f in findings:  # the hot path: two lookups and a few ORs; a plain finding's tuple is shared, not built
            try:
                yes, no = literals_of[f["concept"]]
            except (KeyError, TypeError, IndexError):
                yes, no = self._resolve(f)
            n = len(f)
            if n == 1 or (n == 2 and (present := f.get("present")) is True):
                entry = yes
            elif n == 2 and present is False:
                entry = no
            else:
                entry = self._finding_with_numbers(f, yes, no, numbers)
            p |= entry[0]
            a |= entry[1]
            literals.append(entry[2])
            stated.append(entry[3])
        if not numbers and not measurements:
            values = self.plain_values
            given: dict[str, float] = {}
        else:
            values, given = self._numbers(numbers, measurements)
        if sex is not None and sex not in SEXES:
            raise InvalidValue(f"'sex' must be one of {', '.join(SEXES)} (got {sex!r}).")
        try:
            p, a = self.closure.finish(p, a)
        except Inconsistent:
            raise self._contradiction([StatedFinding(*t) for t in stated], literals) from None
        return PatientFacts(patient_id, tuple(stated), tuple(literals), p, a, values, sex, given)

    def _numbers(self, numbers: list, measurements: Mapping[str, float] | Iterable[Mapping] | None
                 ) -> tuple[dict[int, tuple[float, float]], dict[str, float]]:
        """A patient's numbers by slot (stated, carried up, bounded, scored) and their measurements by name."""
        values = self._slots(numbers) if numbers else {}
        given = self._measurements(measurements, values) if measurements else {}
        if self.bounds and (numbers or given):
            self._bound(values)
        if self.score_formulas:
            if given:
                self._score(values, given)
            else:
                values.update(self._score_defaults)
        return values, given

    def _resolve(self, f: object) -> tuple[tuple, tuple]:
        """The slow path of a finding's concept: what it names, or an error that says what to fix."""
        if not isinstance(f, Mapping):
            raise InvalidFacts(f"Each finding is an object with a 'concept' (got {f!r}).")
        cid = f.get("concept")
        if cid is None:
            raise InvalidFacts("Each finding needs a 'concept' (an id such as 'MorningStiffness').")
        if not isinstance(cid, str):
            raise InvalidFacts(f"A finding's 'concept' is a string id (got {cid!r}).")
        concept = self.concepts.get(cid)  # UnknownConcept, with suggestions
        entries = self._literals_of.get(concept.id)
        if entries is None:
            raise InvalidValue(
                f"'{concept.id}' ({concept.label}) is not something a patient can have; patient facts name "
                f"findings or diseases (subclasses of ClinicalFinding or Disease).", concept=concept.id)
        return entries

    def _finding_with_numbers(self, f: Mapping, yes: tuple, no: tuple,
                              numbers: list[tuple[Concept, str, int, tuple[int, ...], float]]) -> tuple:
        """A finding that is not just a concept and true/false: its presence (absent 'present' or null: present)
        and its numbers, checked."""
        concept = yes[3][0]
        present = f.get("present", True)
        if present is None:
            present = True
        elif present is not True and present is not False:
            raise InvalidValue(f"'present' must be true or false for {concept.id!r} (got {present!r}).")
        entry = yes if present else no
        quantities = self._finding_quantities(concept, yes[2] >> 1, present, f, numbers)
        return entry if not quantities else (*entry[:3], (concept, present, quantities))

    def _finding_quantities(self, concept: Concept, i: int, present: bool, f: Mapping,
                            numbers: list[tuple[Concept, str, int, tuple[int, ...], float]]) -> dict[str, float]:
        specs = self._number_specs[i]
        out: dict[str, float] = {}
        for name, value in f.items():
            if name == "concept" or name == "present" or value is None:
                continue
            spec = specs.get(name)
            # the common case in two tests: a known quantity of this class, a plain number within its range
            if spec is None or not present or (type(value) is not float and type(value) is not int) \
                    or not spec[0] <= value <= spec[1]:
                value = self._check_number(concept, present, name, value)
                spec = specs[name]
            out[name] = value = float(value)
            numbers.append((concept, name, spec[2], spec[3], value))
        return out

    def _check_number(self, concept: Concept, present: bool, name: str, value: object) -> float:
        """A finding's number the fast test did not pass: InvalidValue (or InvalidFacts) saying what to fix, or the
        value when it is fine after all (an int subclass, say)."""
        table = self.quantities
        q = table.get(name)
        if q is None or q.patient_level:
            raise InvalidFacts(f"Unknown field {name!r} on finding {concept.id!r}; allowed: concept, present, "
                               f"{', '.join(table.finding_names)}.")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{name} of {concept.id} must be a finite number (got {value!r}).",
                               concept=concept.id, quantity=name)
        if concept.id not in q.applies_to:
            raise InvalidValue(f"{name} does not apply to {concept.id}; it rides on {q.where} (or a subclass).",
                               concept=concept.id, quantity=name)
        if not present:
            raise InvalidValue(f"{name} was given for {concept.id}, which is marked absent; "
                               f"a quantity only makes sense on a present finding.", concept=concept.id)
        return table.check(q, value, concept.id)

    def _number_table(self) -> list[dict[str, tuple[float, float, int, tuple[int, ...]]]]:
        """Per observable class: quantity name -> (minimum, maximum, its slot, the slots it is carried up to)."""
        table = self.quantities
        out: list[dict[str, tuple[float, float, int, tuple[int, ...]]]] = [{} for _ in self.observable]
        for name in table.finding_names:
            q = table[name]
            # the fast test relies on a finite range to refuse NaN and infinity; with none, every value is checked
            low, high = (q.minimum, q.maximum) if math.isfinite(q.minimum) and math.isfinite(q.maximum) else \
                (math.nan, math.nan)
            for i, concept in enumerate(self.observable):
                if concept.id in q.applies_to:
                    out[i][name] = (low, high, table.slot(name, i), self._carried(concept, i, name))
        return out

    def _slots(self, numbers: list[tuple[Concept, str, int, tuple[int, ...], float]]) -> dict[int, tuple[float, float]]:
        """Stated values first, then values carried up from a subclass (an IBP's onset age is its back pain's)."""
        values: dict[int, tuple[float, float]] = {}
        for concept, name, key, _, value in numbers:
            old = values.get(key)
            if old is not None and old[0] != value:
                raise ContradictoryFacts(f"{concept.id} is given two values for {name}: {old[0]:g} and {value:g}.",
                                         concept=concept.id)
            values[key] = (value, value)
        stated = set(values)
        for _, _, _, carried, value in numbers:
            for key in carried:
                if key in stated:
                    continue
                old = values.get(key)
                # two subclasses carrying different numbers to one class (a mixed pain's onset at 29, a mechanical
                # pain's at 47, both the back pain's): the class's number is known only to lie between them — never
                # whichever came first
                values[key] = (value, value) if old is None else (min(old[0], value), max(old[1], value))
        return values

    def _carried(self, concept: Concept, i: int, name: str) -> tuple[int, ...]:
        found = self._carry.get((i, name))
        if found is None:
            q = self.quantities[name]
            found = self._carry[(i, name)] = tuple(
                self.quantities.slot(name, self.index[anc.id]) for anc in concept.ancestors
                if anc.id in q.applies_to and anc.id in self.index)
        return found

    def _measurements(self, given: Mapping | Iterable[Mapping], values: dict[int, tuple[float, float]]) -> dict[str, float]:
        items = given.items() if isinstance(given, Mapping) else _pairs(given)
        out: dict[str, float] = {}
        measured = self._measured
        for name, value in items:
            spec = measured.get(name) if type(name) is str else None
            # the common case in two tests: a known measurement, a plain number within its range, given once
            if spec is not None and (type(value) is float or type(value) is int) and spec[0] <= value <= spec[1] \
                    and name not in out:
                out[name] = value = float(value)
                values[spec[2]] = (value, value)
                continue
            q = self.quantities.get(name) if isinstance(name, str) else None
            if q is None or not q.patient_level:
                names = self.quantities.patient_names
                close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise InvalidValue(f"Unknown measurement {name!r}.{hint} Known: {', '.join(names)}.", quantity=str(name))
            if name in out and out[name] != value:
                raise ContradictoryFacts(f"The measurement {name} is given twice: {out[name]:g} and {value!r}.")
            out[name] = self.quantities.check(q, value, "the patient")
            values[self.quantities.slot(name)] = (out[name], out[name])
        return out

    def _bound(self, values: dict[int, tuple[float, float]]) -> None:
        """Each bound from its formula: a stated (or carried-up) value on the wrong side of it is a contradiction; an
        unstated one is known to lie between it and the quantity's other end."""
        written: list[int] = []  # the slots a bound filled (every other value was stated or carried up)
        for b in self.bounds:
            formula = b.formula
            if b.idle and formula.slots.isdisjoint(values):
                continue  # nothing it reads is known, and over their whole ranges its inputs bound nothing
            if b.upper:  # Bound.limit and Bound.binds, without the calls (once or twice per patient with numbers)
                limit = formula.greatest(values)
                if limit >= b.quantity.maximum:
                    continue
            else:
                limit = formula.least(values)
                if limit <= b.quantity.minimum:
                    continue
            value = values.get(b.slot) if b.slot not in written else None
            if (value is not None and b.outside(value, limit)) or b.impossible(limit):
                q, formula = b.quantity, b.formula
                inputs = ", ".join(f"{t.quantity.name} {_interval_text(values[t.slot])}" for t in formula.terms
                                   if t.slot in values)
                side = "below" if b.upper else "at least"
                told = f"{b.name} is given as {_interval_text(value)} {q.unit}" if value is not None else \
                    f"{b.name} would be {'below its minimum' if b.upper else 'above its maximum'} of " \
                    f"{(q.minimum if b.upper else q.maximum):g} {q.unit}"
                raise ContradictoryFacts(
                    f"{told}, but the facts ({inputs}) make it {side} {limit:g} {q.unit} ({b.relation()}). Correct "
                    f"the {q.name} or the facts it is derived from.", quantity=q.name,
                    **{"below" if b.upper else "least": limit})
            if value is None:
                values[b.slot] = b.interval(limit)
                written.append(b.slot)

    def _score(self, values: dict[int, tuple[float, float]], given: dict[str, float]) -> None:
        """Each score's interval from its inputs (unknown ones over their range); a score stated directly must lie
        within it."""
        for q, formula in self.scores:
            stated = given.get(q.name)
            if stated is None and formula.slots.isdisjoint(values):
                slot = self.quantities.slot(q.name)  # nothing it reads is known: the score spans its whole range
                values[slot] = self._score_defaults[slot]
                continue
            lo, hi = formula.interval(values)
            if stated is None:
                values[self.quantities.slot(q.name)] = (lo, hi)
            elif not lo - 1e-9 <= stated <= hi + 1e-9:
                inputs = ", ".join(f"{t.quantity.name} {given[t.quantity.name]:g}" for t in formula.terms
                                   if t.quantity.name in given) or "none stated"
                raise ContradictoryFacts(
                    f"{q.name} is given as {stated:g}, but its inputs ({inputs}) make it between {lo:g} and {hi:g} "
                    f"({q.name} = {formula.describe()}). Correct the score or the measurements it is computed from.",
                    quantity=q.name, low=lo, high=hi)

    def rederive(self, values: dict[int, tuple[float, float]], stated: set[int] | frozenset[int],
                 changed: set[int] | frozenset[int]) -> frozenset[int] | None:
        """After ``changed`` slots took new values (a trial answer): recompute the bounds and scores that read them.
        Returns the slots recomputed, or None when the new values contradict a stated number."""
        out: set[int] = set()
        changed = set(changed)  # a bound recomputed is read by the bounds after it (an age, by the onset's)
        for b in self.bounds:
            slot = b.slot
            if not b.formula.slots & changed and slot not in changed:
                continue
            limit = b.limit(values)
            if slot in stated:
                if b.outside(values[slot], limit):
                    return None
                continue
            if b.impossible(limit):
                return None
            if b.binds(limit):
                values[slot] = b.interval(limit)
            else:
                values.pop(slot, None)
            out.add(slot)
            changed.add(slot)
        for slot, formula in self.score_formulas.items():
            if not formula.slots & changed:
                continue
            lo, hi = formula.interval(values)
            if slot in stated:
                if not lo - 1e-9 <= values[slot][0] <= hi + 1e-9:
                    return None
                continue
            values[slot] = (lo, hi)
            out.add(slot)
        return frozenset(out)

    def stated_slots(self, facts: PatientFacts) -> set[int]:
        """The slots whose numbers the patient stated (measurements, numbers on findings and the classes above them
        they are carried to), as opposed to those derived from bounds and scores."""
        table = self.quantities
        out = {table.slot(name) for name in facts.measurements}
        for concept, _, quantities in facts.stated:
            if quantities:
                i = self.index[concept.id]
                for name in quantities:
                    out.add(table.slot(name, i))
                    out.update(self._carried(concept, i, name))
        return out

    # ------------------------------------------------------------------ explaining
    def _contradiction(self, stated: list[StatedFinding], literals: list[int]) -> ContradictoryFacts:
        core = minimal_conflict(self.closure, literals)
        facts = [stated[i] for i in core]
        described = [_describe(f) for f in facts]
        if len(facts) == 2 and facts[0].concept is facts[1].concept:
            return ContradictoryFacts(f"{facts[0].concept.id} is reported both present and absent. Keep one of the "
                                      f"two findings.", facts=described, axioms=[], concept=facts[0].concept.id)
        axioms = [ax.text for ax in justification(self.closure, [literals[i] for i in core])]
        joined = described[0] if len(described) == 1 else ", ".join(described[:-1]) + " and " + described[-1]
        verb = "can never hold" if len(described) == 1 else "cannot both hold" if len(described) == 2 else \
            "cannot all hold"
        because = f": the ontology says {'; '.join(axioms)}" if axioms else ""
        return ContradictoryFacts(f"{joined} {verb}{because}. Correct one of the findings.",
                                  facts=described, axioms=axioms, concept=facts[0].concept.id)

    def stated_index(self, facts: PatientFacts) -> StatedIndex:
        """Which classes the patient stated present and absent (masks), and the first finding of each."""
        present = absent = 0
        first: dict[int, StatedFinding] = {}
        for position, t in enumerate(facts.stated):
            lit = facts.literals[position]
            if lit & 1:
                absent |= 1 << (lit >> 1)
            else:
                present |= 1 << (lit >> 1)
            first.setdefault(lit, StatedFinding._make(t))
        return StatedIndex(present, absent, first)

    def stated_by(self, facts: PatientFacts, index: int, stated: StatedIndex | None = None) -> list[StatedFinding]:
        """The patient's own findings that made class ``index`` present or absent: directly, through the hierarchy
        or disjointness, or (when only several together entail it) the fewest that do."""
        if facts.present >> index & 1:
            target = 2 * index
        elif facts.absent >> index & 1:
            target = 2 * index + 1
        else:
            return []
        stated = stated or self.stated_index(facts)
        by_present, by_absent = self._implied_by[target]
        hits_present, hits_absent = stated.present & by_present, stated.absent & by_absent
        if hits_present or hits_absent:
            first = stated.first  # insertion order is the order the findings were given
            lits = []
            for hits, polarity in ((hits_present, 0), (hits_absent, 1)):
                while hits:
                    low = hits & -hits
                    lits.append(2 * (low.bit_length() - 1) + polarity)
                    hits ^= low
            if len(lits) > 1:
                order = {lit: n for n, lit in enumerate(first)}
                lits.sort(key=order.__getitem__)
            return [first[lit] for lit in lits]
        findings = facts.findings
        return [findings[i] for i in support(self.closure, list(facts.literals), target)]

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
                # The value as written: the reader refuses anything but a boolean ("no" is not false).
                entry: dict = {"concept": str(concept), "present": True if present is None else _value(present)}
                for name in self.quantities.finding_names:
                    v = graph.value(f, PT[name])
                    if v is not None:
                        entry[name] = _value(v)
                findings.append(entry)
            measurements = {n: _value(v) for n in self.quantities.patient_names
                            if (v := graph.value(node, PT[n])) is not None}
            sex = graph.value(node, PT.sex)
            pid = graph.value(node, PT.id)
            out.append(self.patient(findings, str(pid) if pid is not None else (str(node) if isinstance(node, URIRef) else None),
                                    sex=None if sex is None else str(_value(sex)), measurements=measurements))
        return out


def parse_patient_rdf(data: str, fmt: str) -> Graph:
    graph = Graph()
    try:
        graph.parse(data=data, format=fmt)
    except Exception as exc:  # rdflib raises many kinds
        raise rdf_error(exc, fmt) from None
    return graph


def _pairs(given: Iterable[Mapping]) -> Iterable[tuple[object, object]]:
    for m in given:
        if not isinstance(m, Mapping) or set(m) != {"quantity", "value"}:
            raise InvalidFacts(f"Each measurement is {{\"quantity\": ..., \"value\": ...}} (got {m!r}).")
        yield m["quantity"], m["value"]


def _value(node: object) -> object:
    """A literal's Python value (xsd:decimal as a float, like JSON numbers); anything else as it is."""
    if not isinstance(node, Literal):
        return node
    value = node.toPython()
    return float(value) if isinstance(value, Decimal) else value


def _interval_text(value: tuple[float, float]) -> str:
    return f"{value[0]:g}" if value[0] == value[1] else f"{value[0]:g}–{value[1]:g}"


def _describe(f: StatedFinding) -> str:
    return f"{f.concept.id} {'present' if f.present else 'absent'}"
