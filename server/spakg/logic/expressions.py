"""OWL class expressions, read from RDF into a small tree, in the fragment the fact closure reasons with.

The fragment: named classes, owl:Thing and owl:Nothing, intersections, unions, complements, and existential
restrictions (``owl:someValuesFrom``) whose filler is a named class. A patient is one individual, so an existential
restriction is an opaque proposition about that individual (``hasFinding some RadiographicSacroiliitis``); what
relates two of them (a filler's superclasses) is added as clauses by ``axioms``. Anything else (universal and
cardinality restrictions, nominals, data ranges, ...) raises ``Unsupported``: the closure would silently ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import BNode, Graph, URIRef
from rdflib.term import Node

from ..namespaces import OWL, RDF

THING = str(OWL.Thing)
NOTHING = str(OWL.Nothing)


class Unsupported(ValueError):
    """An OWL construct outside the fragment; the message names it."""


@dataclass(frozen=True)
class Named:
    iri: str


@dataclass(frozen=True)
class Some:
    """``prop some filler``: an atom of its own for the closure."""

    prop: str
    filler: str


@dataclass(frozen=True)
class Not:
    arg: Expr


@dataclass(frozen=True)
class And:
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Expr, ...]


Expr = Named | Some | Not | And | Or
Atom = Named | Some  # what a literal is about

_UNSUPPORTED_RESTRICTIONS = {
    OWL.allValuesFrom: "a universal restriction (only)", OWL.hasValue: "a value restriction (value)",
    OWL.minCardinality: "a cardinality restriction (min)", OWL.maxCardinality: "a cardinality restriction (max)",
    OWL.cardinality: "a cardinality restriction (exactly)", OWL.minQualifiedCardinality: "a cardinality restriction (min)",
    OWL.maxQualifiedCardinality: "a cardinality restriction (max)",
    OWL.qualifiedCardinality: "a cardinality restriction (exactly)", OWL.hasSelf: "a self restriction (Self)",
}


def read_expression(graph: Graph, node: Node) -> Expr:
    """The class expression at ``node``; raises Unsupported for what the closure cannot honour."""
    if isinstance(node, URIRef):
        return Named(str(node))
    if not isinstance(node, BNode):
        raise Unsupported(f"{node!r} is not a class expression")
    if (members := graph.value(node, OWL.intersectionOf)) is not None:
        return And(tuple(read_expression(graph, m) for m in graph.items(members)))
    if (members := graph.value(node, OWL.unionOf)) is not None:
        return Or(tuple(read_expression(graph, m) for m in graph.items(members)))
    if (arg := graph.value(node, OWL.complementOf)) is not None:
        return Not(read_expression(graph, arg))
    if graph.value(node, OWL.oneOf) is not None:
        raise Unsupported("an enumeration of individuals (oneOf)")
    if (graph.value(node, RDF.type) == OWL.Restriction or graph.value(node, OWL.onProperty) is not None):
        prop = graph.value(node, OWL.onProperty)
        for predicate, what in _UNSUPPORTED_RESTRICTIONS.items():
            if graph.value(node, predicate) is not None:
                raise Unsupported(what)
        filler = graph.value(node, OWL.someValuesFrom)
        if not isinstance(prop, URIRef) or filler is None:
            raise Unsupported("a restriction without owl:onProperty and owl:someValuesFrom")
        if not isinstance(filler, URIRef):
            raise Unsupported(f"an existential restriction on {local(prop)} whose filler is not a named class")
        return Some(str(prop), str(filler))
    raise Unsupported("a class expression of a kind spakg does not read")


def local(iri: object) -> str:
    text = str(iri)
    return text.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def manchester(expr: Expr) -> str:
    """Protégé's way of writing an expression: ``AxialSpondyloarthritis and (hasFinding some X)``."""
    if isinstance(expr, Named):
        return local(expr.iri)
    if isinstance(expr, Some):
        return f"{local(expr.prop)} some {local(expr.filler)}"
    if isinstance(expr, Not):
        return f"not {_wrapped(expr.arg)}"
    joiner = " and " if isinstance(expr, And) else " or "
    return joiner.join(_wrapped(a) for a in expr.args)


def _wrapped(expr: Expr) -> str:
    return manchester(expr) if isinstance(expr, Named) else f"({manchester(expr)})"


# ---------------------------------------------------------------------- clauses
Literal = tuple[Atom, bool]  # (atom, True) is the atom; (atom, False) its negation
Clause = frozenset[Literal]


def clauses_of(expr: Expr) -> list[Clause]:
    """CNF of ``expr`` as clauses over atoms (owl:Thing and owl:Nothing folded away; tautologies dropped)."""
    return [c for c in _cnf(_nnf(expr, True)) if not _tautology(c)]


def _nnf(expr: Expr, positive: bool) -> Expr:
    if isinstance(expr, Named | Some):
        return expr if positive else Not(expr)
    if isinstance(expr, Not):
        return _nnf(expr.arg, not positive)
    args = tuple(_nnf(a, positive) for a in expr.args)
    if isinstance(expr, And):
        return And(args) if positive else Or(args)
    return Or(args) if positive else And(args)


_TRUE: list[Clause] = []            # no clause: always satisfied
_FALSE: list[Clause] = [frozenset()]  # the empty clause: never satisfied


def _cnf(expr: Expr) -> list[Clause]:
    if isinstance(expr, Named):
        return _TRUE if expr.iri == THING else _FALSE if expr.iri == NOTHING else [frozenset({(expr, True)})]
    if isinstance(expr, Some):
        return [frozenset({(expr, True)})]
    if isinstance(expr, Not):  # in NNF, the argument is an atom
        atom = expr.arg
        if isinstance(atom, Named) and atom.iri in (THING, NOTHING):
            return _FALSE if atom.iri == THING else _TRUE
        return [frozenset({(atom, False)})]  # type: ignore[arg-type]
    if isinstance(expr, And):
        return [c for a in expr.args for c in _cnf(a)]
    out: list[Clause] = [frozenset()]
    for arg in expr.args:  # distribute the disjunction over each argument's clauses
        parts = _cnf(arg)
        if not parts:
            return _TRUE
        out = [a | b for a in out for b in parts]
    return out


def _tautology(clause: Clause) -> bool:
    return any((atom, not sign) in clause for atom, sign in clause)
