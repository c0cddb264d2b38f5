"""Run HermiT (through owlready2, which ships it) over the ontology: consistency, unsatisfiable classes, and the
subclass relations HermiT infers that nobody asserted. Needs a Java runtime on PATH."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph, URIRef

from .namespaces import OWL, RDF, RDFS, SPAKG


class JavaMissing(RuntimeError):
    pass


@dataclass
class ReasonerReport:
    consistent: bool
    unsatisfiable: list[str] = field(default_factory=list)
    inferred_subclasses: list[tuple[str, str]] = field(default_factory=list)  # (sub, super) not asserted
    error: str | None = None


def run_hermit(graph: Graph) -> ReasonerReport:
    if shutil.which("java") is None:
        raise JavaMissing("HermiT needs Java: install a JRE (Debian: apt-get install default-jre-headless).")
    import owlready2  # imported late: it is heavy and only the checks need it

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spakg.owl"
        graph.serialize(path, format="xml")
        world = owlready2.World()
        onto = world.get_ontology(path.as_uri()).load()
        try:
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
        except owlready2.OwlReadyInconsistentOntologyError as exc:
            return ReasonerReport(consistent=False, error=str(exc).strip().splitlines()[0][:500])
        unsat = sorted(c.iri for c in world.inconsistent_classes() if c.iri.startswith(str(SPAKG)))
        asserted = {(str(s), str(o)) for s, o in graph.subject_objects(RDFS.subClassOf) if isinstance(o, URIRef)}
        inferred: list[tuple[str, str]] = []
        for cls in world.classes():
            if not cls.iri.startswith(str(SPAKG)):
                continue
            for parent in cls.is_a:
                iri = getattr(parent, "iri", None)
                if iri and iri.startswith(str(SPAKG)) and (cls.iri, iri) not in asserted:
                    inferred.append((cls.iri, iri))
        return ReasonerReport(consistent=True, unsatisfiable=unsat, inferred_subclasses=sorted(set(inferred)))


def declared_classes(graph: Graph) -> set[str]:
    return {str(c) for c in graph.subjects(RDF.type, OWL.Class) if str(c).startswith(str(SPAKG))}
