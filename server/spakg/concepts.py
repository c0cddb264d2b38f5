"""The ontology's classes as a read-only index: labels, hierarchy, disjointness, relations and their sources.

Built once from the RDF graph. Lookups accept a local name ("MorningStiffness"), a CURIE ("spakg:MorningStiffness")
or a full IRI; an unknown id raises UnknownConcept with the closest known ids.
"""

from __future__ import annotations

import difflib
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

from rdflib import BNode, Graph, Literal, URIRef

from .errors import UnknownConcept
from .namespaces import OBOINOWL, OWL, RDF, RDFS, SKOS, SPAKG
from .provenance import Provenance, ProvenanceIndex


@dataclass(frozen=True)
class CrossReference:
    code: str               # as written: "ICD10CM:M45"
    system: str             # the code system's name ("ICD-10-CM"), or the prefix when it is not declared
    match: str              # EXACT, CLOSE, BROAD (the code is broader) or NARROW
    url: str | None         # the code in its public browser
    note: str | None = None
    source: str | None = None  # the resource whose own cross-reference gives the code, where sources disagree ("DOID")

    @property
    def prefix(self) -> str:
        return self.code.split(":", 1)[0]


@dataclass
class Relation:
    subject: Concept
    predicate: str  # IRI
    label: str
    inverse_label: str
    object: Concept
    sources: list[Provenance]


@dataclass(frozen=True)
class PathStep:
    source: Concept
    relation: str
    target: Concept
    sources: list[Provenance]


@dataclass(eq=False)
class Concept:
    id: str
    iri: str
    label: str
    definition: str | None
    synonyms: list[str]
    xrefs: list[CrossReference]
    notes: list[str]
    sources: list[Provenance]
    observable: bool = False
    parents: list[Concept] = field(default_factory=list)
    children: list[Concept] = field(default_factory=list)
    disjoint_with: list[Concept] = field(default_factory=list)
    outgoing: list[Relation] = field(default_factory=list)
    incoming: list[Relation] = field(default_factory=list)

    @cached_property
    def ancestors(self) -> list[Concept]:
        return _closure(self, lambda c: c.parents)

    @cached_property
    def descendants(self) -> list[Concept]:
        return _closure(self, lambda c: c.children)

    def __repr__(self) -> str:
        return f"Concept({self.id})"


def _closure(start: Concept, step) -> list[Concept]:
    seen: dict[str, Concept] = {}
    queue = deque(step(start))
    while queue:
        c = queue.popleft()
        if c.id not in seen:
            seen[c.id] = c
            queue.extend(step(c))
    return list(seen.values())


def local_name(iri: str) -> str:
    return iri.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


class ConceptIndex:
    def __init__(self, graph: Graph, provenance: ProvenanceIndex) -> None:
        self._graph = graph
        self.by_id: dict[str, Concept] = {}
        self.by_iri: dict[str, Concept] = {}
        self._systems = {str(graph.value(s, SPAKG.prefix)): (str(graph.value(s, RDFS.label) or ""),
                                                             str(graph.value(s, SPAKG.browserUrl) or ""))
                         for s in graph.subjects(RDF.type, SPAKG.CodeSystem) if graph.value(s, SPAKG.prefix)}
        self._mappings = self._read_mappings(graph)
        for cls in sorted(graph.subjects(RDF.type, OWL.Class)):
            if isinstance(cls, URIRef) and str(cls).startswith(str(SPAKG)) and "/" not in str(cls)[len(SPAKG):]:
                concept = self._read(graph, cls, provenance)
                self.by_id[concept.id] = concept
                self.by_iri[concept.iri] = concept
        self._link_hierarchy(graph)
        self._link_disjoint(graph)
        self._link_relations(graph, provenance)
        self._link_subclass_sources(graph, provenance)
        self._mark_observable(graph)
        self._names = self._name_table()

    # ------------------------------------------------------------------ building
    @staticmethod
    def _read_mappings(graph: Graph) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
        """(class IRI, code) -> (match, note, source), from annotations on the oboInOwl:hasDbXref assertions."""
        found = {}
        for axiom in graph.subjects(OWL.annotatedProperty, OBOINOWL.hasDbXref):
            predicate = graph.value(axiom, SPAKG.mappingPredicate)
            source = graph.value(axiom, SPAKG.mappingSource)
            if predicate is not None or source is not None:
                note = graph.value(axiom, SKOS.editorialNote)
                source_prefix = graph.value(source, SPAKG.prefix) if source is not None else None
                found[(str(graph.value(axiom, OWL.annotatedSource)), str(graph.value(axiom, OWL.annotatedTarget)))] = (
                    local_name(str(predicate)).removesuffix("Match").upper() if predicate is not None else "EXACT",
                    None if note is None else str(note),
                    None if source is None else str(source_prefix or local_name(str(source))))
        return found

    def _xref(self, cls: URIRef, code: str) -> CrossReference:
        prefix, _, local = code.partition(":")
        system, template = self._systems.get(prefix, (prefix, ""))
        match, note, source = self._mappings.get((str(cls), code), ("EXACT", None, None))
        return CrossReference(code, system or prefix, match, template.replace("{code}", local) if template else None, note,
                              source)

    def _read(self, graph: Graph, cls: URIRef, provenance: ProvenanceIndex) -> Concept:
        labels = sorted(str(v) for v in graph.objects(cls, RDFS.label))
        definition = graph.value(cls, SKOS.definition)
        notes = sorted(str(v) for p in (SKOS.editorialNote, SPAKG.curationNote) for v in graph.objects(cls, p))
        return Concept(
            id=local_name(str(cls)), iri=str(cls),
            label=labels[0] if labels else local_name(str(cls)),
            definition=str(definition) if definition is not None else None,
            synonyms=sorted(str(v) for v in graph.objects(cls, SKOS.altLabel)),
            xrefs=[self._xref(cls, code) for code in sorted(str(v) for v in graph.objects(cls, OBOINOWL.hasDbXref))],
            notes=notes, sources=provenance.for_subject(graph, cls),
        )

    def _link_hierarchy(self, graph: Graph) -> None:
        for concept in self.by_id.values():
            for parent in graph.objects(URIRef(concept.iri), RDFS.subClassOf):
                target = self.by_iri.get(str(parent))
                if target is not None and target not in concept.parents:
                    concept.parents.append(target)
                    target.children.append(concept)
        for concept in self.by_id.values():
            concept.parents.sort(key=lambda c: c.id)
            concept.children.sort(key=lambda c: c.id)

    def _link_disjoint(self, graph: Graph) -> None:
        pairs: set[tuple[str, str]] = set()
        for a, b in graph.subject_objects(OWL.disjointWith):
            pairs.add((str(a), str(b)))
        for axiom in graph.subjects(RDF.type, OWL.AllDisjointClasses):
            members = list(graph.items(graph.value(axiom, OWL.members)))
            pairs.update((str(a), str(b)) for a in members for b in members if a != b)
        for a, b in pairs:
            ca, cb = self.by_iri.get(a), self.by_iri.get(b)
            if ca and cb:
                for x, y in ((ca, cb), (cb, ca)):
                    if y not in x.disjoint_with:
                        x.disjoint_with.append(y)

    def _relation_properties(self, graph: Graph) -> dict[URIRef, tuple[str, str]]:
        props: dict[URIRef, tuple[str, str]] = {}
        for prop in graph.transitive_subjects(RDFS.subPropertyOf, SPAKG.relatedTo):
            if prop == SPAKG.relatedTo:
                continue
            label = str(graph.value(prop, RDFS.label) or local_name(str(prop)))
            props[prop] = (label, str(graph.value(prop, SPAKG.inverseLabel) or f"is the object of {label}"))
        for prop in graph.subjects(RDF.type, OWL.ObjectProperty):
            label = str(graph.value(prop, RDFS.label) or local_name(str(prop)))
            props[prop] = (label, f"is the object of '{label}' for")
        return props

    def _link_subclass_sources(self, graph: Graph, provenance: ProvenanceIndex) -> None:
        """The quotes annotating an asserted subclass link (child id, parent id)."""
        self.subclass_sources: dict[tuple[str, str], list[Provenance]] = {}
        for (s, p, o), provs in self._axiom_sources(graph, provenance).items():
            child, parent = self.by_iri.get(str(s)), self.by_iri.get(str(o))
            if p == RDFS.subClassOf and child is not None and parent is not None:
                self.subclass_sources[(child.id, parent.id)] = provs

    def _axiom_sources(self, graph: Graph, provenance: ProvenanceIndex) -> dict[tuple, list[Provenance]]:
        found: dict[tuple, list[Provenance]] = {}
        for axiom in graph.subjects(RDF.type, OWL.Axiom):
            key = (graph.value(axiom, OWL.annotatedSource), graph.value(axiom, OWL.annotatedProperty),
                   graph.value(axiom, OWL.annotatedTarget))
            found.setdefault(key, []).extend(provenance.for_subject(graph, axiom))
        return found

    def _link_relations(self, graph: Graph, provenance: ProvenanceIndex) -> None:
        props = self._relation_properties(graph)
        sources = self._axiom_sources(graph, provenance)
        for prop, (label, inverse) in props.items():
            for s, o in graph.subject_objects(prop):
                self._add_relation(s, prop, o, label, inverse, sources.get((s, prop, o), []))
        # Definitional existential restrictions: C ⊑ ∃p.D (D a class, or a union of classes).
        for s, restriction in graph.subject_objects(RDFS.subClassOf):
            if not isinstance(restriction, BNode):
                continue
            prop, filler = graph.value(restriction, OWL.onProperty), graph.value(restriction, OWL.someValuesFrom)
            if prop not in props or filler is None:
                continue
            label, inverse = props[prop]
            targets = [filler]
            if isinstance(filler, BNode) and graph.value(filler, OWL.unionOf) is not None:
                targets = list(graph.items(graph.value(filler, OWL.unionOf)))
            provs = sources.get((s, RDFS.subClassOf, restriction), [])
            for target in targets:
                self._add_relation(s, prop, target, label, inverse, provs)

    def _add_relation(self, s, prop, o, label: str, inverse: str, provs: list[Provenance]) -> None:
        cs, co = self.by_iri.get(str(s)), self.by_iri.get(str(o))
        if cs is None or co is None:
            return
        rel = Relation(cs, str(prop), label, inverse, co, provs)
        cs.outgoing.append(rel)
        co.incoming.append(rel)

    def _mark_observable(self, graph: Graph) -> None:
        for root in graph.subjects(SPAKG.patientObservable, Literal(True)):
            concept = self.by_iri.get(str(root))
            if concept is not None:
                for c in [concept, *concept.descendants]:
                    c.observable = True

    def _name_table(self) -> dict[str, Concept]:
        table: dict[str, Concept] = {}
        for c in self.by_id.values():
            for name in (c.id, c.label, *c.synonyms):
                table.setdefault(name.lower(), c)
        return table

    # ------------------------------------------------------------------ lookup
    def __iter__(self):
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def find(self, ref: str) -> Concept | None:
        ref = ref.strip()
        if ref.startswith("spakg:"):
            ref = ref[len("spakg:"):]
        elif ref.startswith(("http://", "https://")):
            return self.by_iri.get(ref)
        return self.by_id.get(ref)

    def get(self, ref: str) -> Concept:
        concept = self.find(ref)
        if concept is None:
            suggestions = self.suggest(ref)
            hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise UnknownConcept(
                f"Unknown concept '{ref}'. Use a concept id such as 'MorningStiffness', a CURIE such as "
                f"'spakg:MorningStiffness', or a full IRI.{hint}",
                concept=ref, suggestions=suggestions,
            )
        return concept

    def suggest(self, ref: str, n: int = 3) -> list[str]:
        key = local_name(ref).lower()
        matches = difflib.get_close_matches(key, list(self._names), n=n * 2, cutoff=0.5)
        if not matches:  # a word of the query inside a label or synonym
            matches = [name for name in self._names if key and key in name]
        ids: list[str] = []
        for m in matches:
            cid = self._names[m].id
            if cid not in ids:
                ids.append(cid)
        return ids[:n]

    def search(self, text: str | None) -> list[Concept]:
        """Concepts whose id, label, synonym or definition contains the text; label matches first."""
        concepts = sorted(self.by_id.values(), key=lambda c: c.label.lower())
        if not text:
            return concepts
        needle = text.lower().strip()

        def rank(c: Concept) -> int | None:
            if needle in c.label.lower() or needle in c.id.lower():
                return 0
            if any(needle in s.lower() for s in c.synonyms):
                return 1
            if c.definition and needle in c.definition.lower():
                return 2
            return None

        ranked = [(r, c) for c in concepts if (r := rank(c)) is not None]
        return [c for _, c in sorted(ranked, key=lambda rc: rc[0])]

    def path(self, start: Concept, goal: Concept) -> list[PathStep] | None:
        """Shortest chain of relations (either direction, subclass links included) from start to goal, each step
        with the sources of the axiom it crosses (none for a subclass link no quote annotates)."""
        if start is goal:
            return []
        previous: dict[str, PathStep] = {}
        seen = {start.id}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for label, nxt, sources in self._neighbours(node):
                if nxt.id in seen:
                    continue
                seen.add(nxt.id)
                previous[nxt.id] = PathStep(node, label, nxt, sources)
                if nxt is goal:
                    steps: list[PathStep] = []
                    cur = goal
                    while cur is not start:
                        step = previous[cur.id]
                        steps.append(step)
                        cur = step.source
                    return list(reversed(steps))
                queue.append(nxt)
        return None

    def _neighbours(self, c: Concept):
        for p in c.parents:
            yield "is a kind of", p, self.subclass_sources.get((c.id, p.id), [])
        for ch in c.children:
            yield "has subtype", ch, self.subclass_sources.get((ch.id, c.id), [])
        for r in c.outgoing:
            yield r.label, r.object, r.sources
        for r in c.incoming:
            yield r.inverse_label, r.subject, r.sources
