"""Formulas in the ontology (``pt:Formula``): a number computed from a patient's quantities, as the sum of terms
``coefficient × transform(max(input, floor)) / divisor`` plus a constant, optionally rounded down.

Every value is an interval: a stated input is ``(v, v)``; an unknown one spans its quantity's whole range. Each
transform is increasing and each term is monotone, so a formula's interval is exact at its ends. Used for the bounds one
quantity takes from others (the patient is at least as old as the back pain's onset age plus its duration; the back
pain began before the age a year above the patient's age less its duration) and for disease-activity scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from rdflib import Graph
from rdflib.term import Node

from .concepts import ConceptIndex, local_name
from .errors import OntologyError
from .namespaces import PT, RDF, RDFS
from .quantities import Quantity, QuantityTable

if TYPE_CHECKING:
    import numpy as np

Interval = tuple[float, float]

# name -> (the increasing function, its inverse, how it reads)
TRANSFORMS: dict[str, tuple[Callable[[float], float], Callable[[float], float], str]] = {
    "Identity": (lambda x: x, lambda y: y, "{x}"),
    "LogPlusOne": (lambda x: math.log(x + 1), lambda y: math.expm1(y) if y < 700 else math.inf, "ln({x} + 1)"),
}
NOISE = 9  # decimals a formula's value is rounded to: 0.8 + 0.8 + 0.8 + 0.8 + 0.4 + 0.4 is 4, not 4.000000000000001


@dataclass(frozen=True)
class Term:
    quantity: Quantity
    slot: int                 # where the input's value lives for this patient
    of: str | None            # the finding class it rides on (None: about the patient)
    coefficient: float = 1.0
    divisor: float = 1.0
    transform: str = "Identity"
    floor: float | None = None  # inputs below are taken as this ("CRP below 2 mg/L counts as 2")

    def value(self, x: float) -> float:
        if self.floor is not None and x < self.floor:
            x = self.floor
        return self.coefficient * TRANSFORMS[self.transform][0](x) / self.divisor

    def values(self, x: np.ndarray) -> np.ndarray:
        """``value`` over an array (a transform other than the identity in Python, once per distinct input)."""
        import numpy as np

        if self.floor is not None:
            x = np.maximum(x, self.floor)
        if self.transform != "Identity":
            distinct, inverse = np.unique(x, return_inverse=True)
            fn = TRANSFORMS[self.transform][0]
            x = np.array([fn(v) for v in distinct.tolist()], dtype=float)[inverse]
        return self.coefficient * x / self.divisor

    def interval(self, values: Mapping[int, Interval]) -> Interval:
        lo, hi = values.get(self.slot, (self.quantity.minimum, self.quantity.maximum))
        a, b = self.value(lo), self.value(hi)
        return (a, b) if a <= b else (b, a)

    def input_for(self, contribution: float) -> float:
        """The input whose term equals ``contribution`` (the term is monotone; below the floor every input gives the
        floor's value, so the floor is returned). Used to find the answers that would move a score across a cut-off."""
        if self.coefficient == 0:
            return self.quantity.minimum
        x = TRANSFORMS[self.transform][1](contribution * self.divisor / self.coefficient)
        return max(x, self.floor) if self.floor is not None else x

    def describe(self) -> str:
        name = self.quantity.name if self.of is None else f"{self.quantity.name} of {self.of}"
        if self.floor is not None:
            name = f"max({name}, {self.floor:g})"
        text = TRANSFORMS[self.transform][2].format(x=name)
        factor = "" if self.coefficient == 1 else f"{self.coefficient:g} × "
        return f"{factor}{text}" + ("" if self.divisor == 1 else f" / {self.divisor:g}")


@dataclass(frozen=True)
class Formula:
    id: str
    label: str
    terms: tuple[Term, ...]
    constant: float = 0.0
    round_down: bool = False

    def interval(self, values: Mapping[int, Interval]) -> Interval:
        lo = hi = self.constant
        get = values.get
        for slot, unknown, value in self._plan:  # Term.interval, without its lookups (bounds and scores, per patient)
            x, y = get(slot, unknown)
            a, b = value(x), value(y)
            if a <= b:
                lo, hi = lo + a, hi + b
            else:
                lo, hi = lo + b, hi + a
        if self.round_down:
            return (math.floor(round(lo, NOISE)), math.floor(round(hi, NOISE)))
        return (round(lo, NOISE), round(hi, NOISE))

    def intervals(self, values: Mapping[int, tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
        """``interval`` for n patients at once: ``values`` maps a slot to (low, high) arrays, NaN where unknown. The
        same floats as ``interval`` gives each patient: the same operations in the same order, Python's own
        transforms and rounding where numpy's could differ in the last bit."""
        import numpy as np

        lo = np.full(n, self.constant)
        hi = np.full(n, self.constant)
        for t in self.terms:
            low, high = t.quantity.minimum, t.quantity.maximum
            x, y = values.get(t.slot, (None, None))
            x = np.full(n, low) if x is None else np.where(np.isnan(x), low, x)
            y = np.full(n, high) if y is None else np.where(np.isnan(y), high, y)
            a, b = t.values(x), t.values(y)
            lo, hi = lo + np.minimum(a, b), hi + np.maximum(a, b)
        lo, hi = _round(lo), _round(hi)
        return (np.floor(lo), np.floor(hi)) if self.round_down else (lo, hi)

    def greatest(self, values: Mapping[int, Interval]) -> float:
        """The high end of ``interval`` alone."""
        hi = self.constant
        get = values.get
        for slot, unknown, value in self._plan:
            x, y = get(slot, unknown)
            a, b = value(x), value(y)
            hi += b if a <= b else a
        return math.floor(round(hi, NOISE)) if self.round_down else round(hi, NOISE)

    def least(self, values: Mapping[int, Interval]) -> float:
        """The low end of ``interval`` alone (a bound needs no more)."""
        lo = self.constant
        get = values.get
        for slot, unknown, value in self._plan:
            x, y = get(slot, unknown)
            a, b = value(x), value(y)
            lo += a if a <= b else b
        return math.floor(round(lo, NOISE)) if self.round_down else round(lo, NOISE)

    @cached_property
    def _plan(self) -> tuple[tuple[int, Interval, Callable[[float], float]], ...]:
        """Per term: its slot, its interval when unknown, and its value as one function (a plain scaling where the
        term has no floor and no transform)."""
        return tuple((t.slot, (t.quantity.minimum, t.quantity.maximum),
                      _scale(t.coefficient, t.divisor) if t.transform == "Identity" and t.floor is None else t.value)
                     for t in self.terms)

    @cached_property
    def slots(self) -> frozenset[int]:
        return frozenset(t.slot for t in self.terms)

    def describe(self) -> str:
        text = ""
        for i, t in enumerate(self.terms):  # a negative term is written as a subtraction
            negative = t.coefficient < 0
            body = (replace(t, coefficient=-t.coefficient) if negative else t).describe()
            text += (" − " if negative else " + ") + body if i else ("−" if negative else "") + body
        if self.constant:
            text += f" + {self.constant:g}" if self.constant > 0 else f" − {-self.constant:g}"
        return f"⌊{text}⌋" if self.round_down else text


def _round(x: np.ndarray) -> np.ndarray:
    """Python's ``round(v, NOISE)`` of each element: numpy's round, and Python's where the scaled value is near a
    half (the only place numpy's multiply-then-round can land on the other integer)."""
    import numpy as np

    out = np.round(x, NOISE)
    scaled = x * 10.0 ** NOISE
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3
    if near.any():
        out[near] = [round(v, NOISE) for v in x[near].tolist()]
    return out


def _scale(coefficient: float, divisor: float) -> Callable[[float], float]:
    """Term.value without floor or transform, computed the same way (so the same float)."""
    if coefficient == 1 and divisor == 1:
        return lambda x: 1.0 * x
    return lambda x: coefficient * x / divisor


def read_formula(graph: Graph, node: Node, concepts: ConceptIndex, quantities: QuantityTable,
                 concept_index: Mapping[str, int]) -> Formula:
    """The formula at ``node``; OntologyError (naming the formula and the fix) when a term does not fit."""
    name = local_name(str(node))
    terms = []
    for t in graph.objects(node, PT["term"]):  # PT.term is rdflib's Namespace.term method
        q_node = graph.value(t, PT.input)
        q = quantities.get(local_name(str(q_node))) if q_node is not None else None
        if q is None:
            raise OntologyError(f"A term of the formula {name} has no pt:input naming a known pt:Quantity.",
                                entity=str(node), fix="Give each pt:term a pt:input, e.g. pt:input pt:ageAtOnset.")
        of_node = graph.value(t, PT.of)
        of = concepts.find(str(of_node)) if of_node is not None else None
        if q.patient_level != (of is None):
            raise OntologyError(f"A term of {name} reads {q.name}, which rides on "
                                f"{'the patient' if q.patient_level else q.where}.", entity=str(node),
                                fix="Give pt:of (the finding class) for a quantity that rides on a finding, and none "
                                    "for one about the patient.")
        if of is not None and (of.id not in q.applies_to or of.id not in concept_index):
            raise OntologyError(f"A term of {name} reads {q.name} of {of.id}, which it does not apply to.",
                                entity=str(node), fix=f"Use pt:of with one of {', '.join(q.declared_on)}.")
        transform = graph.value(t, PT.transform)
        transform_name = local_name(str(transform)) if transform is not None else "Identity"
        if transform_name not in TRANSFORMS:
            raise OntologyError(f"A term of {name} uses the transform {transform_name}.", entity=str(node),
                                fix=f"Use one of {', '.join('pt:' + x for x in TRANSFORMS)}.")
        terms.append((_number(graph, t, PT.order, math.inf, node),
                      Term(q, quantities.slot(q.name, None if of is None else concept_index[of.id]),
                           None if of is None else of.id, _number(graph, t, PT.coefficient, 1.0, node),
                           _number(graph, t, PT.divisor, 1.0, node), transform_name,
                           _number(graph, t, PT.floor, None, node))))
    if not terms:
        raise OntologyError(f"The formula {name} has no pt:term.", entity=str(node),
                            fix="Give it at least one pt:term [ pt:input pt:… ; pt:coefficient … ].")
    terms.sort(key=lambda t: (t[0], t[1].quantity.name, t[1].of or ""))  # as written (pt:order), then by name
    return Formula(name, str(graph.value(node, RDFS.label) or name), tuple(term for _, term in terms),
                   _number(graph, node, PT.constant, 0.0, node),
                   (node, PT.round, PT.Down) in graph)


def formulas_of(graph: Graph) -> list[Node]:
    return sorted(graph.subjects(RDF.type, PT.Formula), key=str)


def _number(graph: Graph, node: Node, prop, default: float | None, owner: Node) -> float:
    value = graph.value(node, prop)
    if value is None:
        return default  # type: ignore[return-value]
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (prop == PT.divisor and number == 0):
        raise OntologyError(f"In {local_name(str(owner))}, pt:{local_name(str(prop))} is {str(value)!r}.",
                            entity=str(owner), fix="Write a plain finite number (no quotes; a divisor is not 0).")
    return number
