"""Which FHIR codings state which spakg facts, compiled once from the ontology (``ontology/fhir.ttl`` and the
concepts' cross-references): no code is named in Python.

A coding (system URI, code) is looked up in one dict. It names:
- a concept, through a cross-reference in a code system with an ``fx:system`` (with the match's closeness and, where
  MONDO and DOID disagree on a SNOMED CT code, the source that gives it), through a code of the value sets
  (``ontology/valuesets.ttl``: ``fx:CodeMapping``, each with where it was verified), or through spakg's own code
  system. In a code system whose descendants extend the code (``fx:descendantsByPrefix``: ICD-10, ICD-10-CM), a
  mapping ``fx:withDescendants`` also names every code below it (M45 names M45.6), as a narrower code;
- a laboratory test (``fx:ObservationMapping``): the number it gives and the finding its interpretation states;
- a number about the patient (spakg's code system, e.g. BasdaiFatigue);
- a qualitative result (``fx:ResultMeaning``: positive or negative).
It also holds the codes an order for an investigation is placed with (``fx:OrderCode``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import Graph, Literal, Namespace, URIRef

from ..concepts import Concept, ConceptIndex, local_name
from ..errors import OntologyError, OntologyProblems
from ..namespaces import PT, RDF, RDFS, SPAKG
from ..quantities import QuantityTable

FX = Namespace("https://w3id.org/spakg/fhir/")
XREF_SOURCE = "a cross-reference of the ontology, checked against MONDO, DOID and HPO"


@dataclass(frozen=True)
class ConceptCode:
    concept: Concept
    code: str                # as cross-referenced: "SCTID:9631008"
    match: str               # EXACT, NARROW (the code is narrower: states presence only), CLOSE or BROAD (states nothing)
    source: str | None       # where sources disagree: the one that gives this code ("MONDO", "DOID")
    display: str | None = None      # the code's display, as the source it was verified in writes it
    verified_in: str | None = None  # where the code was checked
    descendants: bool = False       # the codes below it are read too (a code system with fx:descendantsByPrefix)

    def below(self) -> ConceptCode:
        """What a code below this one states: the same concept, presence only (a narrower code)."""
        return ConceptCode(self.concept, self.code, "NARROW" if self.match == "EXACT" else self.match, self.source,
                           self.display, self.verified_in)

    @property
    def states_presence(self) -> bool:
        return self.match in ("EXACT", "NARROW")

    @property
    def states_absence(self) -> bool:
        return self.match == "EXACT"


@dataclass(frozen=True)
class LabTest:
    label: str
    code: str
    quantity: str | None     # the pt:Quantity its valueQuantity gives
    states: Concept | None   # the finding its interpretation (or a positive/negative result) states
    id: str = ""             # the mapping's name in the ontology
    verified_in: str | None = None


@dataclass(frozen=True)
class ResultCode:
    id: str
    label: str
    code: str
    present: bool
    verified_in: str | None


@dataclass(frozen=True)
class OrderCode:
    """A code an order for an investigation can be placed with (a ServiceRequest.code an EHR knows)."""

    id: str
    system: str              # FHIR system URI
    code: str                # as FHIR writes it
    display: str
    investigation: str       # the spakg class ordered
    verified_in: str | None


@dataclass(frozen=True)
class Unit:
    own: str                              # the quantity's UCUM unit
    factors: dict[str, float]             # UCUM unit -> factor to the quantity's unit (its own unit: 1)


@dataclass
class CodeBook:
    systems: dict[str, tuple[str, str]] = field(default_factory=dict)      # FHIR system URI -> (prefix, code template)
    concepts: dict[tuple[str, str], list[ConceptCode]] = field(default_factory=dict)
    labs: dict[tuple[str, str], LabTest] = field(default_factory=dict)
    measurements: dict[tuple[str, str], str] = field(default_factory=dict)  # -> patient-level quantity name
    results: dict[tuple[str, str], bool] = field(default_factory=dict)      # positive (True) / negative (False)
    units: dict[str, Unit] = field(default_factory=dict)                   # quantity name -> its units
    when_active: dict[str, Concept] = field(default_factory=dict)
    when_inactive: dict[str, Concept] = field(default_factory=dict)
    own_system: str | None = None
    # code systems whose descendants extend the code: system URI -> {code without dots: its mappings}
    by_prefix: dict[str, dict[str, list[ConceptCode]]] = field(default_factory=dict)
    result_codes: list[ResultCode] = field(default_factory=list)
    orders: dict[str, list[OrderCode]] = field(default_factory=dict)  # investigation id -> its order codes
    labels: dict[str, str] = field(default_factory=dict)               # system URI -> its name ("SNOMED CT")
    conditions_only: frozenset[str] = frozenset()  # concept ids a record keeps as Conditions (fx:recordedAs)
    _by_concept: dict[str, list] | None = None      # concept id -> its public codes, best first (public_coding)

    def concept_codes(self, key: tuple[str, str]) -> list[ConceptCode] | None:
        """The concepts a coding names: its own mappings, else (ICD-10) those of the nearest code above it that is
        read with its descendants, as narrower codes. None when no concept has it."""
        found = self.concepts.get(key)
        if found is not None:
            return found
        table = self.by_prefix.get(key[0])
        if not table or not isinstance(key[1], str):
            return None
        code = key[1].replace(".", "").strip().upper()
        if code in table:  # the same code written another way ("M459", "m45.9")
            return table[code]
        for end in range(len(code) - 1, 1, -1):
            above = table.get(code[:end])
            if above:
                below = [c.below() for c in above if c.descendants]
                if below:
                    return below
        return None

    def observation_codes(self) -> list[tuple[str, str]]:
        """Every coding an Observation spakg reads may carry: laboratory tests, numbers about the patient and the
        findings' codes (those read as present or absent), in a fixed order. ICD-10 codes and the codes of classes a
        record keeps as Conditions (fx:recordedAs: diseases) are left out."""
        keys = {*self.labs, *self.measurements}
        keys.update(k for k, codes in self.concepts.items() if k[0] not in self.by_prefix and any(
            c.states_presence and c.concept.id not in self.conditions_only for c in codes))
        return sorted(keys)

    def observation_search(self) -> str:
        """``observation_codes`` as the value of a FHIR token search (``code=``): spakg's own code system as a whole
        (``system|``, every code in it) rather than code by code, so the URL stays short."""
        own = self.own_system
        tokens = [f"{s}|{c}" for s, c in self.observation_codes() if s != own]
        return ",".join([*tokens, *([f"{own}|"] if own else [])])

    def public_coding(self, concept_id: str, present: bool) -> tuple[str, str, str | None] | None:
        """A public code (system, code, display) that states exactly this concept as ``present`` says — exact, or
        narrower where only presence is to be said; of one code system's, SNOMED CT first — or None."""
        if self._by_concept is None:
            table: dict[str, list[tuple[int, str, str, str, str | None]]] = {}
            for (system, code), mapped in self.concepts.items():
                if system == self.own_system or len({m.concept.id for m in mapped if m.states_presence}) != 1:
                    continue  # a code that states two concepts, or spakg's own
                for m in mapped:
                    if m.states_presence and m.source is None:
                        rank = (0 if system == "http://snomed.info/sct" else 1) * 2 + (m.match != "EXACT")
                        table.setdefault(m.concept.id, []).append((rank, system, code, m.match, m.display))
            self._by_concept = {cid: sorted(rows, key=lambda r: r[:3]) for cid, rows in table.items()}
        for _, system, code, match, display in self._by_concept.get(concept_id, ()):
            if present or match == "EXACT":
                return system, code, display
        return None

    def knows(self, key: tuple[str, str]) -> bool:
        """Whether spakg reads anything from this coding (a concept, a laboratory test, a number about the patient)."""
        return key in self.labs or key in self.measurements or self.concept_codes(key) is not None

    @classmethod
    def compile(cls, graph: Graph, concepts: ConceptIndex, quantities: QuantityTable) -> CodeBook:
        """The code book, or OntologyProblems naming every mapping that points nowhere (``spakg check`` lists them, and
        ``serve --watch`` refuses such an edit)."""
        problems: list[OntologyError] = []
        book = cls._compile(graph, concepts, quantities, problems)
        if problems:
            raise OntologyProblems(problems)
        return book

    @classmethod
    def _compile(cls, graph: Graph, concepts: ConceptIndex, quantities: QuantityTable,
                 problems: list[OntologyError]) -> CodeBook:
        book = cls()

        def observable_class(node, where) -> Concept | None:
            found = concepts.by_iri.get(str(node))
            if found is None or not found.observable:
                problems.append(OntologyError(f"{local_name(str(where))} names {local_name(str(node))}, which is not an "
                                              f"observable class of the ontology.", entity=str(where),
                                              fix="Name a finding or disease class (spakg.ttl), or correct the name."))
            return found if found is not None and found.observable else None

        by_prefix: dict[str, tuple[str, str]] = {}
        for system in graph.subjects(RDF.type, SPAKG.CodeSystem):
            uri, prefix = graph.value(system, FX.system), graph.value(system, SPAKG.prefix)
            if uri is None or prefix is None:
                continue
            template = str(graph.value(system, FX.codeTemplate) or "{code}")
            book.systems[str(uri)] = (str(prefix), template)
            book.labels[str(uri)] = str(graph.value(system, RDFS.label) or prefix)
            by_prefix[str(prefix)] = (str(uri), template)
            if system == SPAKG.SPAKG:
                book.own_system = str(uri)
            if graph.value(system, FX.descendantsByPrefix) == Literal(True):
                book.by_prefix[str(uri)] = {}

        def coding(code: str, where=None) -> tuple[str, str] | None:
            prefix, _, local = code.partition(":")
            if prefix not in by_prefix:
                if where is not None:
                    problems.append(OntologyError(f"{local_name(str(where))}: fx:code {code!r} is in no code system with "
                                                  f"an fx:system.", entity=str(where),
                                                  fix=f"Write PREFIX:code with one of {', '.join(sorted(by_prefix))}, "
                                                      f"or give that code system an fx:system (fhir.ttl)."))
                return None
            uri, template = by_prefix[prefix]
            return uri, template.replace("{code}", local)

        for concept in concepts.by_id.values():
            if not concept.observable:
                continue
            if book.own_system:
                book.concepts[(book.own_system, concept.id)] = [ConceptCode(concept, f"spakg:{concept.id}", "EXACT", None)]
            for x in concept.xrefs:
                key = coding(x.code)
                if key is not None:
                    where = f"{x.source}'s cross-reference" if x.source else XREF_SOURCE
                    book._add(key, ConceptCode(concept, x.code, x.match, x.source, None, where))
        for mapping in graph.subjects(RDF.type, FX.CodeMapping):
            target = graph.value(mapping, FX.standsFor)
            code = graph.value(mapping, FX.code)
            verified = graph.value(mapping, FX.verifiedIn)
            if target is None or code is None or verified is None:
                problems.append(OntologyError(f"{local_name(str(mapping))}: a code mapping needs fx:code, fx:standsFor and "
                                              f"fx:verifiedIn.", entity=str(mapping),
                                              fix="Give the code, the concept it stands for and where it was verified "
                                                  "(a code verified nowhere is left out)."))
                continue
            concept = observable_class(target, mapping)
            key = coding(str(code), mapping)
            if concept is None or key is None:
                continue
            predicate = graph.value(mapping, FX.match)
            match = local_name(str(predicate)).removesuffix("Match").upper() if predicate is not None else "EXACT"
            descendants = graph.value(mapping, FX.withDescendants) == Literal(True)
            if descendants and key[0] not in book.by_prefix:
                problems.append(OntologyError(f"{local_name(str(mapping))}: fx:withDescendants in a code system whose "
                                              f"codes do not extend their parents' ({key[0]}).", entity=str(mapping),
                                              fix="List each code, or give the code system fx:descendantsByPrefix."))
                descendants = False
            book._add(key, ConceptCode(concept, str(code), match, None, _str(graph.value(mapping, RDFS.label)),
                                       str(verified), descendants))
        for order in graph.subjects(RDF.type, FX.OrderCode):
            investigation, code = graph.value(order, FX.orders), graph.value(order, FX.code)
            key = None if code is None else coding(str(code), order)
            if investigation is None or key is None or concepts.by_iri.get(str(investigation)) is None:
                problems.append(OntologyError(f"{local_name(str(order))}: an order code needs fx:code and fx:orders "
                                              f"naming an investigation class.", entity=str(order),
                                              fix="Name the investigation (spakg.ttl) and the code."))
                continue
            oid = local_name(str(investigation))
            book.orders.setdefault(oid, []).append(OrderCode(
                local_name(str(order)), key[0], key[1], str(graph.value(order, RDFS.label) or key[1]), oid,
                _str(graph.value(order, FX.verifiedIn))))
        for mapping in graph.subjects(RDF.type, FX.ObservationMapping):
            states = graph.value(mapping, FX.states)
            quantity = graph.value(mapping, FX.quantity)
            name = None if quantity is None else local_name(str(quantity))
            if name is not None and name not in quantities:
                problems.append(OntologyError(f"{local_name(str(mapping))}: fx:quantity {name} is not a pt:Quantity.",
                                              entity=str(mapping), fix="Name a quantity of rule-vocabulary.ttl."))
                name = None
            finding = None if states is None else observable_class(states, mapping)
            for code in graph.objects(mapping, FX.code):
                key = coding(str(code), mapping)
                if key is not None:
                    book.labs[key] = LabTest(str(graph.value(mapping, RDFS.label) or local_name(str(mapping))), str(code),
                                             name, finding, local_name(str(mapping)),
                                             _str(graph.value(mapping, FX.verifiedIn)))
        for meaning in graph.subjects(RDF.type, FX.ResultMeaning):
            present = graph.value(meaning, FX.present)
            for code in graph.objects(meaning, FX.code):
                key = coding(str(code), meaning)
                if key is not None and isinstance(present, Literal):
                    book.results[key] = bool(present.toPython())
                    book.result_codes.append(ResultCode(local_name(str(meaning)),
                                                        str(graph.value(meaning, RDFS.label) or key[1]), str(code),
                                                        bool(present.toPython()),
                                                        _str(graph.value(meaning, FX.verifiedIn))))
        for q in quantities.by_name.values():
            if q.patient_level and book.own_system:  # a number about the patient, by its name in spakg's code system
                book.measurements[(book.own_system, q.name)] = q.name
            node = PT[q.name]
            own = graph.value(node, FX.ucum)
            if own is None:
                continue
            factors = {str(own): 1.0}
            for other in graph.objects(node, FX.alsoAccepts):
                unit, factor = graph.value(other, FX.ucum), graph.value(other, FX.factor)
                if unit is not None and isinstance(factor, Literal):
                    factors[str(unit)] = float(factor.toPython())
            book.units[q.name] = Unit(str(own), factors)
        recorded = [concepts.by_iri.get(str(s)) for s, o in graph.subject_objects(FX.recordedAs) if str(o) == "Condition"]
        book.conditions_only = frozenset(c.id for top in recorded if top is not None
                                         for c in (top, *top.descendants))
        for prop, table in ((FX.whenActive, book.when_active), (FX.whenInactive, book.when_inactive)):
            for s, o in graph.subject_objects(prop):
                if isinstance(s, URIRef) and isinstance(o, URIRef):
                    found = observable_class(o, s)
                    if found is not None:
                        table[local_name(str(s))] = found
        return book

    def _add(self, key: tuple[str, str], code: ConceptCode) -> None:
        self.concepts.setdefault(key, []).append(code)
        table = self.by_prefix.get(key[0])
        if table is not None:
            table.setdefault(key[1].replace(".", "").upper(), []).append(code)


def _str(value: object) -> str | None:
    return None if value is None else str(value)
