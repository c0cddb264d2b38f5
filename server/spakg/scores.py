"""Disease-activity scores (``pt:Score``: BASDAI, ASDAS-CRP) for one patient: the interval each score lies in, the
term by term working, and the status of each of its categories (the ``rule:ScoreCategory`` rules).

The numbers themselves are computed when the patient's facts are read (``FactSpace``: a score is a quantity about the
patient, an interval while some input is unknown), and the categories are decided with every other rule; this module
gathers them per score and says how each was reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from .facts import FactSpace, PatientFacts
from .formulas import NOISE, TRANSFORMS, Formula, Term
from .quantities import Quantity
from .rules import STATUS_NAMES, Rule, RuleBook


@dataclass(frozen=True)
class ScoreDefinition:
    quantity: Quantity
    formula: Formula
    categories: tuple[Rule, ...]   # in rule:order
    citations: tuple[str, ...]
    definition: str | None

    @property
    def id(self) -> str:
        return self.quantity.name


class ScoreBook:
    """The ontology's scores with their categories, found once per load."""

    def __init__(self, facts: FactSpace, rules: RuleBook, citations: dict[str, tuple[str, ...]],
                 definitions: dict[str, str]) -> None:
        by_score: dict[str, list[Rule]] = {}
        for rule in rules.rules.values():
            if rule.category_of is not None:
                by_score.setdefault(rule.category_of, []).append(rule)
        self.definitions = [
            ScoreDefinition(q, f, tuple(sorted(by_score.get(q.name, []), key=lambda r: (r.order, r.id))),
                            citations.get(q.name, ()), definitions.get(q.name))
            for q, f in facts.scores]
        self.by_id = {d.id: d for d in self.definitions}
        self._slot = {d.id: facts.quantities.slot(d.id) for d in self.definitions}
        self._position = {id(r): n for n, r in enumerate(rules.order)}

    def evaluate(self, facts: PatientFacts, statuses: tuple[int, ...]) -> list[ScoreValue]:
        return [self._value(d, facts, statuses) for d in self.definitions]

    def started(self, definition: ScoreDefinition, facts: PatientFacts) -> bool:
        """Whether anything the score is computed from (or the score itself) was given for this patient."""
        given = facts.measurements
        return definition.id in given or any(t.quantity.name in given for t in definition.formula.terms)

    def _value(self, d: ScoreDefinition, facts: PatientFacts, statuses: tuple[int, ...]) -> ScoreValue:
        values = facts.quantities
        low, high = values[self._slot[d.id]]
        terms = []
        for t in d.formula.terms:
            lo, hi = values.get(t.slot, (t.quantity.minimum, t.quantity.maximum))
            a, b = t.interval(values)
            terms.append(TermValue(t, lo if t.slot in values else None, lo, hi, (round(a, NOISE), round(b, NOISE))))
        return ScoreValue(d, low, high, d.id in facts.measurements, tuple(terms),
                          tuple((r, statuses[self._position[id(r)]]) for r in d.categories),
                          self.started(d, facts))


@dataclass(frozen=True)
class TermValue:
    term: Term
    value: float | None              # the input as stated; None when unknown
    low: float                       # the input's least and greatest possible value
    high: float
    contribution: tuple[float, float]

    def describe(self) -> str:
        t = self.term
        q = t.quantity
        if self.value is None:
            given = f"{q.name} unknown ({_n(self.low)}–{_n(self.high)} {q.unit})"
        else:
            given = f"{q.name} {_n(self.value)}"
            if t.floor is not None and self.value < t.floor:
                given += f", counted as {_n(t.floor)}"
        lo, hi = self.contribution
        worth = _n(lo) if lo == hi else f"{_n(lo)} to {_n(hi)}"
        return f"{t.describe()} with {given} = {worth}"


@dataclass(frozen=True)
class ScoreValue:
    definition: ScoreDefinition
    low: float
    high: float
    stated: bool                     # the score itself was given (a clinic that records only the total)
    terms: tuple[TermValue, ...]
    categories: tuple[tuple[Rule, int], ...]
    started: bool                    # some input (or the score) was given

    @property
    def value(self) -> float | None:
        return self.low if self.low == self.high else None

    @property
    def explanation(self) -> str:
        d = self.definition
        total = _n(self.low) if self.value is not None else f"between {_n(self.low)} and {_n(self.high)}"
        if self.stated:
            head = f"{d.quantity.label} {_n(self.low)}, as given"
            checked = " (within what its stated inputs allow)" if any(t.value is not None for t in self.terms) else ""
            return head + checked + "."
        missing = [t.term.quantity.name for t in self.terms if t.value is None]
        text = f"{d.quantity.label} = {d.formula.describe()}: " + "; ".join(t.describe() for t in self.terms) + \
            f". {d.quantity.label} is {total}"
        if missing and self.value is None:
            text += f" until {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} known"
        decided = [f"{r.label}: {STATUS_NAMES[s].replace('_', ' ').lower()}" for r, s in self.categories]
        return text + (". " + "; ".join(decided) if decided else "") + "."


def term_dict(t: TermValue) -> dict:
    term = t.term
    return {"quantity": term.quantity.name, "label": term.quantity.label, "unit": term.quantity.unit,
            "value": t.value, "low": t.low, "high": t.high, "coefficient": term.coefficient, "divisor": term.divisor,
            "transform": TRANSFORMS[term.transform][2].format(x="x"), "floor": term.floor,
            "contributionLow": t.contribution[0], "contributionHigh": t.contribution[1]}


def score_dict(s: ScoreValue) -> dict:
    d = s.definition
    return {"id": d.id, "label": d.quantity.label, "unit": d.quantity.unit, "value": s.value, "low": s.low,
            "high": s.high, "stated": s.stated, "formula": d.formula.describe(),
            "terms": [term_dict(t) for t in s.terms],
            "categories": [{"id": r.id, "label": r.label, "concludes": r.concludes.id if r.concludes else None,
                            "status": STATUS_NAMES[status]} for r, status in s.categories],
            "explanation": s.explanation, "citations": list(d.citations)}


def _n(x: float) -> str:
    return f"{round(x, 3):g}"
