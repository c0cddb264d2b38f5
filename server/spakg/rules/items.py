"""Rule items. Each kind evaluates itself for a patient and returns its own proof step.

Statuses are Kleene truth values ordered NOT_MET < UNDETERMINED < MET, so a conjunction is ``min``. Steps of groups
are memoised per evaluation: an item shared by several rules (the SpA features) is decided once and its step reused,
which also makes the proof of a conclusion item the very proof of the rule it refers to.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from ..concepts import Concept
from ..facts import PatientFacts
from ..provenance import Provenance

NOT_MET, UNDETERMINED, MET = 0, 1, 2
STATUS_NAMES = ("NOT_MET", "UNDETERMINED", "MET")

COMPARATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "lessThan": (operator.lt, "<"),
    "atMost": (operator.le, "≤"),
    "greaterThan": (operator.gt, ">"),
    "atLeast": (operator.ge, "≥"),
}


class Step:
    """One node of a proof: the item, its status, and what decided it."""

    __slots__ = ("children", "conclusion", "item", "met", "possible", "requires", "status")

    def __init__(self, item: Item, status: int, children: tuple[Step, ...] = (), requires: tuple[Step, ...] = (),
                 met: float = 0, possible: float = 0, conclusion: Step | None = None) -> None:
        self.item = item
        self.status = status
        self.children = children
        self.requires = requires
        self.met = met
        self.possible = possible
        self.conclusion = conclusion  # for a ConclusionItem: the referenced rule's step

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


class Evaluation:
    """The state of one patient's evaluation: the facts and the memo of group steps."""

    __slots__ = ("facts", "memo")

    def __init__(self, facts: PatientFacts) -> None:
        self.facts = facts
        self.memo: dict[int, Step] = {}


@dataclass(eq=False)
class Item:
    id: str
    iri: str
    label: str
    order: int = 0
    weight: float = 1
    sources: list[Provenance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    kind = "ITEM"

    def evaluate(self, ev: Evaluation) -> Step:  # pragma: no cover - abstract
        raise NotImplementedError

    def findings(self) -> list[Concept]:
        """Every finding this item (and what it contains) looks at."""
        return []


@dataclass(eq=False)
class FindingItem(Item):
    concept: Concept | None = None
    bit: int = 0
    index: int = 0
    expects_present: bool = True
    comparisons: tuple[tuple[str, str, float], ...] = ()  # (quantity, comparator name, value)
    accept_unknown: bool = False

    kind = "FINDING"

    def __post_init__(self) -> None:
        self._tests = tuple((q, COMPARATORS[op][0], v) for q, op, v in self.comparisons)

    def evaluate(self, ev: Evaluation) -> Step:
        facts = ev.facts
        if facts.present & self.bit:
            if not self.expects_present:
                return Step(self, NOT_MET)
            if not self._tests:
                return Step(self, MET)
            values = facts.quantities.get(self.index)
            status = MET
            for quantity, test, threshold in self._tests:
                value = values.get(quantity) if values else None
                if value is None:
                    status = UNDETERMINED
                elif not test(value, threshold):
                    return Step(self, NOT_MET)
            return Step(self, status)
        if facts.absent & self.bit:
            return Step(self, NOT_MET if self.expects_present else MET)
        return Step(self, MET if self.accept_unknown else UNDETERMINED)

    def findings(self) -> list[Concept]:
        return [self.concept] if self.concept is not None else []

    def describe_comparisons(self) -> str:
        return ", ".join(f"{q} {COMPARATORS[op][1]} {v:g}" for q, op, v in self.comparisons)


@dataclass(eq=False)
class Group(Item):
    items: list[Item] = field(default_factory=list)
    requires: list[Item] = field(default_factory=list)
    threshold: float | None = None  # None: all of the items' weight
    threshold_basis: str | None = None

    kind = "GROUP"

    @property
    def total_weight(self) -> float:
        return sum(i.weight for i in self.items)

    @property
    def needed(self) -> float:
        return self.total_weight if self.threshold is None else self.threshold

    def evaluate(self, ev: Evaluation) -> Step:
        key = id(self)
        step = ev.memo.get(key)
        if step is not None:
            return step
        requires = tuple(r.evaluate(ev) for r in self.requires)
        children = tuple(i.evaluate(ev) for i in self.items)
        met = undetermined = 0.0
        for child in children:
            if child.status == MET:
                met += child.item.weight
            elif child.status == UNDETERMINED:
                undetermined += child.item.weight
        needed = self.needed
        status = MET if met >= needed else NOT_MET if met + undetermined < needed else UNDETERMINED
        for r in requires:
            if r.status < status:
                status = r.status
        step = Step(self, status, children, requires, met, met + undetermined)
        ev.memo[key] = step
        return step

    def findings(self) -> list[Concept]:
        out: list[Concept] = []
        for item in (*self.requires, *self.items):
            for c in item.findings():
                if c not in out:
                    out.append(c)
        return out


@dataclass(eq=False)
class Rule(Group):
    concludes: Concept | None = None
    rule_type: str = "Rule"
    short_label: str = ""
    citations: list[str] = field(default_factory=list)

    kind = "RULE"

    def depends_on(self) -> list[Rule]:
        """Rules this one uses through conclusion items, anywhere in its item tree."""
        found: list[Rule] = []
        stack: list[Item] = [*self.requires, *self.items]
        while stack:
            item = stack.pop()
            if isinstance(item, ConclusionItem) and item.rule is not None and item.rule not in found:
                found.append(item.rule)
            elif isinstance(item, Group) and not isinstance(item, Rule):
                stack.extend([*item.requires, *item.items])
        return found


@dataclass(eq=False)
class ConclusionItem(Item):
    rule: Rule | None = None
    accept_undetermined: bool = False

    kind = "CONCLUSION"

    def evaluate(self, ev: Evaluation) -> Step:
        inner = self.rule.evaluate(ev)  # type: ignore[union-attr]
        status = inner.status
        if status == UNDETERMINED and self.accept_undetermined:
            status = MET
        return Step(self, status, conclusion=inner)

    def findings(self) -> list[Concept]:
        return self.rule.findings() if self.rule is not None else []
