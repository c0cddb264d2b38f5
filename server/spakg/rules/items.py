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
    """One node of a proof: the item, its status, and what decided it.

    A group's child steps are built on first access, from the same evaluation: finding steps are shared and group
    steps memoised, so the lazily built children are exactly those that decided the status.
    """

    __slots__ = ("_children", "_ev", "conclusion", "item", "met", "possible", "requires", "status")

    def __init__(self, item: Item, status: int, requires: list[Step] | tuple = (), met: float = 0,
                 possible: float = 0, conclusion: Step | None = None, ev: Evaluation | None = None) -> None:
        self.item = item
        self.status = status
        self.requires = requires
        self.met = met
        self.possible = possible
        self.conclusion = conclusion  # for a ConclusionItem: the referenced rule's step
        self._ev = ev
        self._children: list[Step] | None = None if ev is not None else []

    @property
    def children(self) -> list[Step]:
        if self._children is None:
            ev = self._ev
            self._children = [i.evaluate(ev) for i in self.item.items]  # type: ignore[attr-defined]
        return self._children

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


class Evaluation:
    """One patient's evaluation: the facts, each group's (status, met, possible) by slot, and built steps."""

    __slots__ = ("facts", "memo", "steps")

    def __init__(self, facts: PatientFacts, slots: int) -> None:
        self.facts = facts
        self.memo: list[tuple[int, float, float] | None] = [None] * slots
        self.steps: dict[int, Step] = {}


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

    def status(self, ev: Evaluation) -> int:  # pragma: no cover - abstract
        """The item's status alone: the hot path, allocating nothing."""
        raise NotImplementedError

    def evaluate(self, ev: Evaluation) -> Step:  # pragma: no cover - abstract
        """The item's proof step (after or instead of ``status``; the result is the same)."""
        raise NotImplementedError

    def finding_items(self) -> list[FindingItem]:
        """Every finding item inside this item, through groups and the rules that conclusion items refer to."""
        return []

    def findings(self) -> list[Concept]:
        """Every finding this item (and what it contains) looks at, once each."""
        out: list[Concept] = []
        for item in self.finding_items():
            if item.concept is not None and item.concept not in out:
                out.append(item.concept)
        return out


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
        # A finding item's step depends on nothing but its status (the facts behind it are read when the proof
        # is rendered), so the three possible steps are made once and shared: evaluating allocates nothing.
        self._steps = (Step(self, NOT_MET), Step(self, UNDETERMINED), Step(self, MET))
        if_present = MET if self.expects_present else NOT_MET
        self._when_absent = self._steps[NOT_MET if self.expects_present else MET]
        self._when_unknown = self._steps[MET if self.accept_unknown else UNDETERMINED]
        self._when_present = None if self._tests and self.expects_present else self._steps[if_present]

    def status(self, ev: Evaluation) -> int:
        facts = ev.facts
        if facts.present & self.bit:
            if self._when_present is not None:
                return self._when_present.status
            values = facts.quantities.get(self.index)
            status = MET
            for quantity, test, threshold in self._tests:
                value = values.get(quantity) if values else None
                if value is None:
                    status = UNDETERMINED
                elif not test(value, threshold):
                    return NOT_MET
            return status
        if facts.absent & self.bit:
            return self._when_absent.status
        return self._when_unknown.status

    def evaluate(self, ev: Evaluation) -> Step:
        return self._steps[self.status(ev)]

    def finding_items(self) -> list[FindingItem]:
        return [self]

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

    def status(self, ev: Evaluation) -> int:
        return self._decide(ev)[0]

    def _decide(self, ev: Evaluation) -> tuple[int, float, float]:
        memo = ev.memo
        found = memo[self.slot]
        if found is not None:
            return found
        facts = ev.facts
        present, absent = facts.present, facts.absent
        # Plain finding items of weight 1 are counted in one go over the fact bit masks.
        met = float((present & self._pos).bit_count() + (absent & self._neg).bit_count())
        decided = met + (absent & self._pos).bit_count() + (present & self._neg).bit_count()
        undetermined = self._n_simple - decided
        for item, weight in self._complex:
            status = item.status(ev)
            if status == MET:
                met += weight
            elif status == UNDETERMINED:
                undetermined += weight
        needed = self._needed
        status = MET if met >= needed else NOT_MET if met + undetermined < needed else UNDETERMINED
        for r in self._requires:
            entry = r.status(ev)
            if entry < status:
                status = entry
        found = memo[self.slot] = (status, met, met + undetermined)
        return found

    def evaluate(self, ev: Evaluation) -> Step:
        step = ev.steps.get(self.slot)
        if step is None:
            status, met, possible = self._decide(ev)
            requires = [r.evaluate(ev) for r in self._requires]
            step = ev.steps[self.slot] = Step(self, status, requires, met, possible, ev=ev)
        return step

    slot: int = -1  # index into Evaluation.memo, set by freeze()

    def freeze(self, slot: int) -> None:
        """Snapshot items, weights and threshold for the hot loop (called once after compiling)."""
        self.slot = slot
        self._requires = tuple(self.requires)
        self._needed = self.needed
        self._pos = self._neg = 0
        self._n_simple = 0
        complex_items = []
        for item in self.items:
            simple = (isinstance(item, FindingItem) and item.weight == 1 and not item.comparisons
                      and not item.accept_unknown and not (item.bit & (self._pos | self._neg)))
            if simple:
                if item.expects_present:
                    self._pos |= item.bit
                else:
                    self._neg |= item.bit
                self._n_simple += 1
            else:
                complex_items.append((item, item.weight))
        self._complex = tuple(complex_items)

    def finding_items(self) -> list[FindingItem]:
        return [f for item in (*self.requires, *self.items) for f in item.finding_items()]


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

    def status(self, ev: Evaluation) -> int:
        status = self.rule._decide(ev)[0]  # type: ignore[union-attr]
        return MET if status == UNDETERMINED and self.accept_undetermined else status

    def evaluate(self, ev: Evaluation) -> Step:
        return Step(self, self.status(ev), conclusion=self.rule.evaluate(ev))  # type: ignore[union-attr]

    def finding_items(self) -> list[FindingItem]:
        return self.rule.finding_items() if self.rule is not None else []
