"""How much it takes to learn whether a patient has a finding, from the ontology: the cheapest investigation that
can detect it (``spakg:canDetect``, for the finding, a broader or a narrower class) by its ``spakg:effortRank``
(inherited down the investigation hierarchy); a finding no investigation detects is learnt by asking."""

from __future__ import annotations

from rdflib import Graph, Literal

from .concepts import Concept, ConceptIndex
from .namespaces import SPAKG


class Effort:
    def __init__(self, graph: Graph, concepts: ConceptIndex) -> None:
        ranked = {}
        for node, value in graph.subject_objects(SPAKG.effortRank):
            concept = concepts.by_iri.get(str(node))
            if concept is not None and isinstance(value, Literal) and isinstance(value.toPython(), int):
                ranked[concept.id] = value.toPython()
        self.asking = ranked.get("ClinicalAssessment", 1)

        def rank_of(investigation: Concept) -> int | None:
            for c in (investigation, *investigation.ancestors):
                if c.id in ranked:
                    return ranked[c.id]
            return None

        detectors: dict[str, list[tuple[int, Concept]]] = {}
        for investigation in concepts:
            rank = rank_of(investigation)
            if rank is None:
                continue
            for rel in investigation.outgoing:
                if rel.predicate == str(SPAKG.canDetect):
                    detectors.setdefault(rel.object.id, []).append((rank, investigation))
        self._best: dict[str, tuple[int, Concept | None]] = {}
        for concept in concepts:
            found = [d for c in (concept, *concept.ancestors, *concept.descendants) for d in detectors.get(c.id, [])]
            self._best[concept.id] = min(found, key=lambda d: (d[0], d[1].id)) if found else (self.asking, None)

    def rank(self, concept: Concept | None) -> int:
        return self._best[concept.id][0] if concept is not None else self.asking

    def investigation(self, concept: Concept | None) -> Concept | None:
        """The investigation that learns it most cheaply (None: ask the patient)."""
        return self._best[concept.id][1] if concept is not None else None
