"""The ontology's class axioms as clauses, each clause remembering the axiom it came from (for explanations).

Read: rdfs:subClassOf, owl:equivalentClass, owl:disjointWith, owl:AllDisjointClasses, owl:disjointUnionOf (between
class expressions of the fragment in ``expressions``), and rdfs:subPropertyOf between object properties (used to
relate existential restrictions). Refused, with the axiom named: object-property domains, ranges, inverses,
characteristics and chains, and class expressions outside the fragment. Annotation properties (the educational
relations) and individuals (the rules) carry no logic here and are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import BNode, Graph, URIRef
from rdflib.term import Node

from ..errors import OntologyError
from ..namespaces import OWL, RDF, RDFS
from .expressions import Clause, Expr, Named, Not, Or, Unsupported, clauses_of, local, manchester, read_expression

FRAGMENT = ("subclass, equivalence and disjointness between named classes, intersections (and), unions (or), "
            "complements (not) and existential restrictions (some) with a named filler")

_PROPERTY_AXIOMS = {
    RDFS.domain: "a domain", RDFS.range: "a range", OWL.inverseOf: "an inverse", OWL.propertyChainAxiom: "a chain",
    OWL.equivalentProperty: "an equivalent property", OWL.propertyDisjointWith: "a disjoint property",
}
_PROPERTY_TYPES = {
    OWL.TransitiveProperty: "transitive", OWL.FunctionalProperty: "functional", OWL.InverseFunctionalProperty:
    "inverse functional", OWL.SymmetricProperty: "symmetric", OWL.AsymmetricProperty: "asymmetric",
    OWL.ReflexiveProperty: "reflexive", OWL.IrreflexiveProperty: "irreflexive",
}


@dataclass(frozen=True)
class Axiom:
    subject: str  # the named class (or property) the axiom is about, for messages
    text: str     # in Manchester syntax, as Protégé shows it
    clauses: tuple[Clause, ...]


@dataclass
class AxiomSet:
    axioms: list[Axiom] = field(default_factory=list)
    sub_properties: dict[str, set[str]] = field(default_factory=dict)  # object property -> its super-properties
    problems: list[OntologyError] = field(default_factory=list)


def read_axioms(graph: Graph) -> AxiomSet:
    out = AxiomSet()
    for predicate, keyword in ((RDFS.subClassOf, "SubClassOf"), (OWL.equivalentClass, "EquivalentTo"),
                               (OWL.disjointWith, "DisjointWith")):
        for s, o in sorted(graph.subject_objects(predicate)):
            _add(out, s, keyword, False, _pair, graph, s, o, predicate)
    for node in sorted(graph.subjects(RDF.type, OWL.AllDisjointClasses)):
        members = list(graph.items(graph.value(node, OWL.members)))
        _add(out, members[0] if members else node, "DisjointClasses", True, _all_disjoint, graph, members)
    for s, members in sorted(graph.subject_objects(OWL.disjointUnionOf)):
        _add(out, s, "DisjointUnionOf", True, _disjoint_union, graph, s, list(graph.items(members)))
    _read_properties(graph, out)
    return out


def _add(out: AxiomSet, subject: Node, keyword: str, listed: bool, build, *args) -> None:
    """Translate one axiom (``build(*args)`` gives its expressions and clauses), or record why it cannot be."""
    name = local(subject) if isinstance(subject, URIRef) else "a class expression"
    try:
        exprs, clauses = build(*args)
    except Unsupported as exc:
        out.problems.append(OntologyError(
            f"{name}: the {keyword} axiom uses {exc}, which spakg's fact closure cannot reason with.",
            entity=str(subject) if isinstance(subject, URIRef) else None,
            fix=f"Express it with {FRAGMENT}; a statement that is not definitional belongs in an annotation (a "
                f"sub-property of spakg:relatedTo)."))
        return
    if not listed:
        text = f"{manchester(exprs[0])} {keyword} {manchester(exprs[1])}"
    elif keyword == "DisjointUnionOf":
        text = f"{manchester(exprs[0])} DisjointUnionOf: {', '.join(manchester(e) for e in exprs[1:])}"
    else:
        text = f"{keyword}: {', '.join(manchester(e) for e in exprs)}"
    out.axioms.append(Axiom(_subject_iri(subject, exprs), text, tuple(clauses)))


def _subject_iri(subject: Node, exprs: list[Expr]) -> str:
    if isinstance(subject, URIRef):
        return str(subject)
    named = next((e for e in exprs if isinstance(e, Named)), None)
    return named.iri if named else ""


def _pair(graph: Graph, s: Node, o: Node, predicate) -> tuple[list[Expr], list[Clause]]:
    a, b = read_expression(graph, s), read_expression(graph, o)
    if predicate == RDFS.subClassOf:
        return [a, b], clauses_of(Or((Not(a), b)))
    if predicate == OWL.equivalentClass:
        return [a, b], clauses_of(Or((Not(a), b))) + clauses_of(Or((Not(b), a)))
    return [a, b], clauses_of(Or((Not(a), Not(b))))


def _all_disjoint(graph: Graph, members: list[Node]) -> tuple[list[Expr], list[Clause]]:
    return _pairwise_disjoint([read_expression(graph, m) for m in members])


def _pairwise_disjoint(exprs: list[Expr]) -> tuple[list[Expr], list[Clause]]:
    clauses = [c for i, a in enumerate(exprs) for b in exprs[i + 1:] for c in clauses_of(Or((Not(a), Not(b))))]
    return exprs, clauses


def _disjoint_union(graph: Graph, s: Node, parts: list[Node]) -> tuple[list[Expr], list[Clause]]:
    whole = read_expression(graph, s)
    exprs = [read_expression(graph, p) for p in parts]
    union = Or(tuple(exprs))
    _, disjoint = _pairwise_disjoint(exprs)
    return [whole, *exprs], clauses_of(Or((Not(whole), union))) + clauses_of(Or((Not(union), whole))) + disjoint


def _read_properties(graph: Graph, out: AxiomSet) -> None:
    object_properties = set(graph.subjects(RDF.type, OWL.ObjectProperty)) | set(graph.objects(None, OWL.onProperty))
    for prop in sorted(p for p in object_properties if isinstance(p, URIRef)):
        for predicate, what in _PROPERTY_AXIOMS.items():
            if graph.value(prop, predicate) is not None:
                out.problems.append(_property_problem(prop, what))
        for kind, what in _PROPERTY_TYPES.items():
            if (prop, RDF.type, kind) in graph:
                out.problems.append(_property_problem(prop, f"the characteristic '{what}'"))
        for parent in graph.objects(prop, RDFS.subPropertyOf):
            if isinstance(parent, BNode):
                out.problems.append(_property_problem(prop, "a super-property that is not named"))
            else:
                out.sub_properties.setdefault(str(prop), set()).add(str(parent))


def _property_problem(prop: URIRef, what: str) -> OntologyError:
    return OntologyError(
        f"The object property {local(prop)} has {what}, which spakg's fact closure cannot reason with.",
        entity=str(prop),
        fix=f"Remove it: a patient's facts are closed under {FRAGMENT}, and sub-properties. If it is documentation, "
            f"say it in skos:definition.")
