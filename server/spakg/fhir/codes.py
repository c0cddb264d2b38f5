"""Which FHIR codings state which spakg facts, compiled once from the ontology (``ontology/fhir.ttl`` and the
concepts' cross-references): no code is named in Python.

A coding (system URI, code) is looked up in one dict. It names:
- a concept, through a cross-reference in a code system with an ``fx:system`` (with the match's closeness and, where
  MONDO and DOID disagree on a SNOMED CT code, the source that gives it), or through spakg's own code system;
- a laboratory test (``fx:ObservationMapping``): the number it gives and the finding its interpretation states;
- a number about the patient (spakg's code system, e.g. BasdaiFatigue);
- a qualitative result (``fx:ResultMeaning``: positive or negative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import Graph, Literal, Namespace, URIRef

from ..concepts import Concept, ConceptIndex, local_name
from ..errors import OntologyError, OntologyProblems
from ..namespaces import PT, RDF, RDFS, SPAKG
from ..quantities import QuantityTable

FX = Namespace("https://w3id.org/spakg/fhir/")


@dataclass(frozen=True)
class ConceptCode:
    concept: Concept
    code: str                # as cross-referenced: "SCTID:9631008"
    match: str               # EXACT, NARROW (the code is narrower: states presence only), CLOSE or BROAD (states nothing)
    source: str | None       # where sources disagree: the one that gives this code ("MONDO", "DOID")

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
            by_prefix[str(prefix)] = (str(uri), template)
            if system == SPAKG.SPAKG:
                book.own_system = str(uri)

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
                    book.concepts.setdefault(key, []).append(ConceptCode(concept, x.code, x.match, x.source))
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
                                             name, finding)
        for meaning in graph.subjects(RDF.type, FX.ResultMeaning):
            present = graph.value(meaning, FX.present)
            for code in graph.objects(meaning, FX.code):
                key = coding(str(code), meaning)
                if key is not None and isinstance(present, Literal):
                    book.results[key] = bool(present.toPython())
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
        for prop, table in ((FX.whenActive, book.when_active), (FX.whenInactive, book.when_inactive)):
            for s, o in graph.subject_objects(prop):
                if isinstance(s, URIRef) and isinstance(o, URIRef):
                    found = observable_class(o, s)
                    if found is not None:
                        table[local_name(str(s))] = found
        return book
