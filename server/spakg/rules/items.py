"""Rule items. Each kind writes its own code for the compiled decision function (``emit``) and builds its own proof
step from a patient's proof vector (``step``).

Statuses are Kleene truth values ordered NOT_MET < UNDETERMINED < MET, so a conjunction is ``min``. A numeric value
is an interval (low, high): a comparison is MET when the whole interval passes, NOT_MET when none of it does.
Every item has a slot in the proof vector (its status); a group also has a counts slot (met, possible).

Each item also writes its lines for deciding many variants of one patient at once (``emit_lanes``; the next questions
try each unknown finding as present and as absent): bit t of a lane mask stands for variant t, and an item's status
is two lane masks, ``M<slot>`` (the variants where it is MET) and ``N<slot>`` (NOT_MET); the rest are UNDETERMINED.
``PL[b]``/``AL[b]`` are the variants where fact bit b is present/absent, ``ALL`` every variant; numbers are the same in
every variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from ..concepts import Concept
from ..provenance import Provenance
from .code import Code

NOT_MET, UNDETERMINED, MET = 0, 1, 2
STATUS_NAMES = ("NOT_MET", "UNDETERMINED", "MET")


class Proof(Protocol):
    """What an item reads of a patient's proof vector to build its step: ``rules.proof.Proof`` (a module above this
    one) is the one kind there is."""

    def status(self, item: Item) -> int: ...
    def counts(self, group: Group) -> tuple[float, float]: ...
    def step(self, item: Item) -> Step: ...

# comparator -> (symbol, code deciding MET from the interval q, code deciding NOT_MET from q)
COMPARATORS: dict[str, tuple[str, str, str]] = {
    "lessThan": ("<", "q[1] < {t}", "q[0] >= {t}"),
    "atMost": ("≤", "q[1] <= {t}", "q[0] > {t}"),
    "greaterThan": (">", "q[0] > {t}", "q[1] <= {t}"),
    "atLeast": ("≥", "q[0] >= {t}", "q[1] < {t}"),
}


# comparator -> (MET, NOT_MET) from an interval's low and high ends and the threshold: the decisions COMPARATORS
# writes as code, as functions (they take floats or numpy arrays alike)
INTERVAL_TESTS = {
    "lessThan": (lambda lo, hi, t: hi < t, lambda lo, hi, t: lo >= t),
    "atMost": (lambda lo, hi, t: hi <= t, lambda lo, hi, t: lo > t),
    "greaterThan": (lambda lo, hi, t: lo > t, lambda lo, hi, t: hi <= t),
    "atLeast": (lambda lo, hi, t: lo >= t, lambda lo, hi, t: hi < t),
}


def decide_comparison(op: str, threshold: float, q: tuple[float, float] | None) -> int:
    """The same decision the generated code makes, for one comparison (used outside the hot path)."""
    if q is None:
        return UNDETERMINED
    met, not_met = INTERVAL_TESTS[op]
    return MET if met(*q, threshold) else NOT_MET if not_met(*q, threshold) else UNDETERMINED


@dataclass(frozen=True)
class Comparison:
    quantity: str
    op: str          # a key of COMPARATORS
    value: float
    slot: int        # where the value lives (QuantityTable.slot)

    @property
    def symbol(self) -> str:
        return COMPARATORS[self.op][0]

    def describe(self) -> str:
        return f"{self.quantity} {self.symbol} {self.value:g}"

    def code(self) -> str:
        """An expression for this comparison's status, given ``q = get(slot)``."""
        _, met, not_met = COMPARATORS[self.op]
        t = _num(self.value)
        return f"1 if q is None else 2 if {met.format(t=t)} else 0 if {not_met.format(t=t)} else 1"


class Step:
    """One node of a proof: the item, its status, and (for groups) the steps of its items, built on first access."""

    __slots__ = ("_children", "_proof", "conclusion", "item", "met", "possible", "requires", "status")

    def __init__(self, item: Item, status: int, requires: list[Step] | tuple = (), met: float = 0,
                 possible: float = 0, conclusion: Step | None = None, proof: Proof | None = None) -> None:
        self.item = item
        self.status = status
        self.requires = requires
        self.met = met
        self.possible = possible
        self.conclusion = conclusion  # for a ConclusionItem: the referenced rule's step
        self._proof = proof
        self._children: list[Step] | None = None if proof is not None else []

    @property
    def children(self) -> list[Step]:
        if self._children is None:
            proof = self._proof
            self._children = [proof.step(i) for i in self.item.items]  # type: ignore[attr-defined,union-attr]
        return self._children

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


@dataclass(eq=False)
class Item:
    id: str
    iri: str
    label: str
    order: int = 0
    weight: float = 1
    sources: list[Provenance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    slot: int = -1  # in the proof vector, set by the compiler

    kind = "ITEM"

    @property
    def var(self) -> str:
        return f"v{self.slot}"

    def emit(self, code: Code) -> None:  # pragma: no cover - abstract
        """Write the lines that set ``self.var`` from P, A (fact masks) and the values getter."""
        raise NotImplementedError

    def step(self, proof: Proof) -> Step:
        return Step(self, proof.status(self))

    def emit_lanes(self, code: Code) -> None:  # pragma: no cover - abstract
        """Write the lines that set ``M<slot>`` and ``N<slot>`` (see the module's docstring)."""
        raise NotImplementedError

    def lanes(self) -> tuple[str, str]:
        """Expressions for this item's MET and NOT_MET lanes, once its lines have run."""
        return f"M{self.slot}", f"N{self.slot}"

    def dependencies(self) -> list[Item]:
        """Items whose status this item's code reads."""
        return []

    def finding_items(self) -> list[FindingItem]:
        """Every finding item inside this item, through groups and the rules that conclusion items refer to."""
        return []

    def quantity_items(self) -> list[QuantityItem]:
        return []

    @property
    def monotone(self) -> bool:
        """Whether more facts can only settle this item, never change a settled status. False where an unknown is
        read as met (acceptUnknown, acceptUndetermined): there, a new fact can turn MET into NOT_MET."""
        found = self.__dict__.get("_monotone")
        if found is None:
            found = self.__dict__["_monotone"] = self._monotone()
        return found

    def _monotone(self) -> bool:
        return True

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
    comparisons: tuple[Comparison, ...] = ()
    accept_unknown: bool = False

    kind = "FINDING"

    @property
    def simple(self) -> bool:
        """Counted straight from the fact masks by a group (no numbers, no reading of unknown as met)."""
        return self.weight == 1 and not self.comparisons and not self.accept_unknown

    def emit(self, code: Code) -> None:
        v, b = self.var, self.bit
        unknown = MET if self.accept_unknown else UNDETERMINED
        if self.comparisons and code.fixed is not None:  # the numbers are known now: their status is a constant
            least = min(decide_comparison(c.op, c.value, code.fixed.get(c.slot)) for c in self.comparisons)
            code.line(f"{v} = {least} if P & {b} else 0 if A & {b} else {unknown}")
            return
        if not self.comparisons:
            if self.expects_present:
                code.line(f"{v} = 2 if P & {b} else 0 if A & {b} else {unknown}")
            else:
                code.line(f"{v} = 0 if P & {b} else 2 if A & {b} else {unknown}")
            return
        code.line(f"if P & {b}:")
        first, *rest = self.comparisons
        code.line(f"q = get({first.slot})", 2)
        code.line(f"{v} = {first.code()}", 2)
        for c in rest:
            code.line(f"if {v}:", 2)
            code.line(f"q = get({c.slot})", 3)
            code.line(f"t = {c.code()}", 3)
            code.line(f"if t < {v}: {v} = t", 3)
        code.line(f"elif A & {b}: {v} = 0")
        code.line(f"else: {v} = {unknown}")

    def finding_items(self) -> list[FindingItem]:
        return [self]

    def emit_lanes(self, code: Code) -> None:
        if self.simple:
            return  # read straight from the fact lanes (``lanes``)
        m, n, b = f"M{self.slot}", f"N{self.slot}", self.bit.bit_length() - 1
        yes, no = (f"PL[{b}]", f"AL[{b}]") if self.expects_present or self.comparisons else (f"AL[{b}]", f"PL[{b}]")
        unknown = f" | (ALL & ~PL[{b}] & ~AL[{b}])" if self.accept_unknown else ""
        if not self.comparisons:
            code.line(f"{m} = {yes}{unknown}")
            code.line(f"{n} = {no}")
            return
        _emit_least(code, "t", self.comparisons)  # the same in every variant: while present, the numbers decide
        code.line(f"{m} = ({yes} if t == 2 else 0){unknown}")
        code.line(f"{n} = {no} | ({yes} if t == 0 else 0)")

    def lanes(self) -> tuple[str, str]:
        if self.simple:
            b = self.bit.bit_length() - 1
            return (f"PL[{b}]", f"AL[{b}]") if self.expects_present else (f"AL[{b}]", f"PL[{b}]")
        return super().lanes()

    def _monotone(self) -> bool:
        return not self.accept_unknown

    def describe_comparisons(self) -> str:
        return ", ".join(c.describe() for c in self.comparisons)


@dataclass(eq=False)
class QuantityItem(Item):
    """Decided by numbers about the patient as a whole (age, a measurement): MET when every comparison passes."""

    comparisons: tuple[Comparison, ...] = ()

    kind = "QUANTITY"

    def emit(self, code: Code) -> None:
        v = self.var
        if code.fixed is not None:  # the numbers are known now: the status is a constant
            code.line(f"{v} = {min(decide_comparison(c.op, c.value, code.fixed.get(c.slot)) for c in self.comparisons)}")
            return
        _emit_least(code, v, self.comparisons, temp="t")

    def quantity_items(self) -> list[QuantityItem]:
        return [self]

    def emit_lanes(self, code: Code) -> None:
        _emit_least(code, "t", self.comparisons)
        code.line(f"M{self.slot} = ALL if t == 2 else 0")
        code.line(f"N{self.slot} = ALL if t == 0 else 0")

    def describe_comparisons(self) -> str:
        return ", ".join(c.describe() for c in self.comparisons)


def _emit_least(code: Code, var: str, comparisons: tuple[Comparison, ...], temp: str = "u") -> None:
    """``var`` = the least status of the comparisons, each read from its slot (``temp`` holds the one in hand)."""
    first, *rest = comparisons
    code.line(f"q = get({first.slot})")
    code.line(f"{var} = {first.code()}")
    for c in rest:
        code.line(f"q = get({c.slot})")
        code.line(f"{temp} = {c.code()}")
        code.line(f"if {temp} < {var}: {var} = {temp}")


@dataclass(eq=False)
class Group(Item):
    items: list[Item] = field(default_factory=list)
    requires: list[Item] = field(default_factory=list)
    threshold: float | None = None  # None: all of the items' weight
    threshold_basis: str | None = None
    counts: int = -1  # index of (met, possible) in the proof vector's counts, set by the compiler

    kind = "GROUP"

    @property
    def total_weight(self) -> float:
        return sum(i.weight for i in self.items)

    @property
    def needed(self) -> float:
        return self.total_weight if self.threshold is None else self.threshold

    def dependencies(self) -> list[Item]:
        return [*self.requires, *(i for i in self.items if not self._counted_by_mask(i))]

    def _counted_by_mask(self, item: Item) -> bool:
        return isinstance(item, FindingItem) and item.simple and self._mask_items.get(id(item)) is item

    @property
    def _mask_items(self) -> dict[int, FindingItem]:
        """Simple finding items counted in one go over the fact masks (each bit once: a repeated bit is counted
        through its own variable)."""
        found = self.__dict__.get("_masked")
        if found is None:
            found, bits = {}, 0
            for item in self.items:
                if isinstance(item, FindingItem) and item.simple and not item.bit & bits:
                    found[id(item)] = item
                    bits |= item.bit
            self.__dict__["_masked"] = found
        return found

    def emit(self, code: Code) -> None:
        if code.counts or not self._emit_status(code):
            self._emit_counts(code)
        for r in self.requires:
            code.line(f"if {r.var} < {self.var}: {self.var} = {r.var}")

    def emit_lanes(self, code: Code) -> None:
        """MET where the weight of MET items reaches the threshold, NOT_MET where the weight of items not NOT_MET
        cannot: any one item (an OR), all of them (an AND), else an at-least-k count over the lanes (each count a
        lane mask, as in a 0/1 knapsack)."""
        m, n = f"M{self.slot}", f"N{self.slot}"
        pairs = [(i.lanes(), i.weight) for i in self.items]
        need = self.needed
        if all(w == 1 for _, w in pairs) and need == 1 and pairs:
            code.line(f"{m} = {' | '.join(y for (y, _), _ in pairs)}")
            code.line(f"{n} = {' & '.join(x for (_, x), _ in pairs)}")
        elif all(w == 1 for _, w in pairs) and need == len(pairs) and pairs:
            code.line(f"{m} = {' & '.join(y for (y, _), _ in pairs)}")
            code.line(f"{n} = {' | '.join(x for (_, x), _ in pairs)}")
        else:
            k = math.ceil(need)
            self._emit_at_least(code, m, k, [(y, w) for (y, _), w in pairs])
            # NOT_MET where the items not NOT_MET cannot reach k: where the NOT_MET ones weigh more than total - k
            # (counted directly when that needs fewer levels than counting the others up to k)
            spare = math.floor(sum(w for _, w in pairs) - need) + 1
            if spare <= k:
                self._emit_at_least(code, n, spare, [(x, w) for (_, x), w in pairs])
            else:
                self._emit_at_least(code, n, k, [(f"(ALL & ~{x})", w) for (_, x), w in pairs])
                code.line(f"{n} = ALL & ~{n}")
        for r in self.requires:
            y, x = r.lanes()
            code.line(f"{m} &= {y}")
            code.line(f"{n} |= {x}")

    def _emit_at_least(self, code: Code, out: str, k: int, terms: list[tuple[str, float]]) -> None:
        """``out`` = the lanes where the weights of the terms true in that lane add up to at least k."""
        if k <= 0:
            code.line(f"{out} = ALL")
            return
        c = [f"c{self.slot}_{j}" for j in range(k + 1)]
        code.line(" = ".join(c[1:]) + " = 0")
        so_far = 0  # the weight counted so far: a count above it is still no lane at all
        for expr, w in terms:
            if w <= 0:
                continue
            if not float(w).is_integer():
                raise ValueError(f"{self.id}: a weight of {w:g} cannot be counted over lanes")
            for j in range(k, 0, -1):
                if j - w <= 0:
                    code.line(f"{c[j]} |= {expr}")
                elif j - w <= so_far:
                    code.line(f"{c[j]} |= {c[int(j - w)]} & {expr}")
            so_far += int(w)
        code.line(f"{out} = {c[k]}")

    def _emit_status(self, code: Code) -> bool:
        """The status alone, without counting, when the group needs any one of its items or all of them (each of
        weight 1): a chain of tests over the fact masks and the other items' statuses. False for any other group."""
        v, masked = self.var, self._mask_items.values()
        others = [i for i in self.items if not self._counted_by_mask(i)]
        if any(i.weight != 1 for i in self.items):
            return False
        if not masked and len(others) == 1 and self.needed == 1:
            code.line(f"{v} = {others[0].var}")
            return True
        pos = sum(i.bit for i in masked if i.expects_present)
        neg = sum(i.bit for i in masked if not i.expects_present)
        # an item MET, an item NOT_MET, every item MET, every item NOT_MET
        met = [f"P & {pos}"] * bool(pos) + [f"A & {neg}"] * bool(neg) + [f"{i.var} == 2" for i in others]
        failed = [f"A & {pos}"] * bool(pos) + [f"P & {neg}"] * bool(neg) + [f"not {i.var}" for i in others]
        every_met = [f"(P & {pos}) == {pos}"] * bool(pos) + [f"(A & {neg}) == {neg}"] * bool(neg) + \
            [f"{i.var} == 2" for i in others]
        every_failed = [f"(A & {pos}) == {pos}"] * bool(pos) + [f"(P & {neg}) == {neg}"] * bool(neg) + \
            [f"not {i.var}" for i in others]
        if not met:
            return False
        if self.needed == 1:
            code.line(f"{v} = 2 if {' or '.join(met)} else 0 if {' and '.join(every_failed)} else 1")
        elif self.needed == len(self.items):
            code.line(f"{v} = 2 if {' and '.join(every_met)} else 0 if {' or '.join(failed)} else 1")
        else:
            return False
        return True

    def _emit_counts(self, code: Code) -> None:
        v, m, p = self.var, f"m{self.slot}", f"p{self.slot}"
        pos = sum(i.bit for i in self._mask_items.values() if i.expects_present)
        neg = sum(i.bit for i in self._mask_items.values() if not i.expects_present)
        n_masked = len(self._mask_items)
        met_terms, possible_terms = [], []
        if pos:
            met_terms.append(f"(P & {pos}).bit_count()")
            possible_terms.append(f"- (A & {pos}).bit_count()")
        if neg:
            met_terms.append(f"(A & {neg}).bit_count()")
            possible_terms.append(f"- (P & {neg}).bit_count()")
        for item in self.items:
            if self._counted_by_mask(item):
                continue
            w = "" if item.weight == 1 else f"{_num(item.weight)} * "
            met_terms.append(f"{w}({item.var} == 2)")
            possible_terms.append(f"+ {w}({item.var} > 0)")
        code.line(f"{m} = {' + '.join(met_terms) or '0'}")
        code.line(f"{p} = {n_masked} {' '.join(possible_terms)}")
        need = _num(self.needed)
        code.line(f"{v} = 2 if {m} >= {need} else 0 if {p} < {need} else 1")

    def _monotone(self) -> bool:
        return all(i.monotone for i in (*self.requires, *self.items))

    @property
    def walk(self) -> tuple[int, tuple[Item, ...], tuple[Item, ...]]:
        """For walking a proof without visiting finding items one by one: the bits of the finding items directly
        under this group, the items with numbers (finding items with comparisons, quantity items), and the items to
        descend into (groups, and conclusion items)."""
        found = self.__dict__.get("_walk")
        if found is None:
            bits, numbers, below = 0, [], []
            for item in (*self.requires, *self.items):
                if isinstance(item, FindingItem):
                    bits |= item.bit
                    if item.comparisons:
                        numbers.append(item)
                elif isinstance(item, QuantityItem):
                    numbers.append(item)
                else:
                    below.append(item)
            found = self.__dict__["_walk"] = (bits, tuple(numbers), tuple(below))
        return found

    @property
    def named_bits(self) -> int:
        """The bits of every finding this group's tree names (through the rules it reads too)."""
        found = self.__dict__.get("_named")
        if found is None:
            found = 0
            for f in self.finding_items():
                found |= f.bit
            self.__dict__["_named"] = found
        return found

    def step(self, proof: Proof) -> Step:
        met, possible = proof.counts(self)
        return Step(self, proof.status(self), [proof.step(r) for r in self.requires], met, possible, proof=proof)

    def finding_items(self) -> list[FindingItem]:
        found = self.__dict__.get("_finding_items")  # the tree is fixed once compiled
        if found is None:
            found = self.__dict__["_finding_items"] = [f for i in (*self.requires, *self.items) for f in i.finding_items()]
        return found

    def quantity_items(self) -> list[QuantityItem]:
        found = self.__dict__.get("_quantity_items")
        if found is None:
            found = self.__dict__["_quantity_items"] = [q for i in (*self.requires, *self.items)
                                                        for q in i.quantity_items()]
        return found


@dataclass(eq=False)
class Rule(Group):
    concludes: Concept | None = None
    rule_type: str = "Rule"
    short_label: str = ""
    citations: list[str] = field(default_factory=list)
    category_of: str | None = None  # for a score category: the pt:Score it classifies

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
    """Another rule's outcome; ``negated`` (rule:expects rule:Absent): MET when that rule is NOT_MET and the reverse
    (Kleene negation: UNDETERMINED stays UNDETERMINED)."""

    rule: Rule | None = None
    accept_undetermined: bool = False
    negated: bool = False

    kind = "CONCLUSION"

    def emit(self, code: Code) -> None:
        source = self.rule.var  # type: ignore[union-attr]
        if self.negated:
            code.line(f"{self.var} = 2 - {source}")
        else:
            code.line(f"{self.var} = 2 if {source} else 0" if self.accept_undetermined else f"{self.var} = {source}")

    def dependencies(self) -> list[Item]:
        return [self.rule]  # type: ignore[list-item]

    def emit_lanes(self, code: Code) -> None:
        y, x = self.rule.lanes()  # type: ignore[union-attr]
        if self.negated:
            y, x = x, y
        code.line(f"M{self.slot} = ALL & ~{x}" if self.accept_undetermined else f"M{self.slot} = {y}")
        code.line(f"N{self.slot} = {x}")

    def _monotone(self) -> bool:
        return not self.accept_undetermined and self.rule.monotone  # type: ignore[union-attr]

    def step(self, proof: Proof) -> Step:
        return Step(self, proof.status(self), conclusion=proof.step(self.rule))  # type: ignore[arg-type]

    def finding_items(self) -> list[FindingItem]:
        return self.rule.finding_items() if self.rule is not None else []

    def quantity_items(self) -> list[QuantityItem]:
        return self.rule.quantity_items() if self.rule is not None else []


def _num(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
