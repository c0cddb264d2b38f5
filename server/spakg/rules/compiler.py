"""Compile the rules' item DAG into plain Python functions, once per ontology load.

* ``outcomes(P, A, Q)``: every rule's status, in dependency order (the hot path of assessments and cohort screens);
* ``vector(P, A, Q)``: every item's status and every group's (met, possible): the whole proof, as two tuples, from
  which proof steps are built only when someone reads them;
* ``lanes(PL, AL, Q, ALL)``: every rule's status for many variants of one patient at once, a bit per variant (the
  next questions try every unknown finding's two answers in one call);
* ``rule_<n>``: one rule alone, from the statuses of the rules it reads (next questions that change numbers);
* ``outcomes_plain``, ``vector_plain``: the first two for a patient who gave no number at all (most), every comparison
  worked out while compiling (RuleBook picks them when the patient's numbers are exactly ``plain``).

P and A are the patient's closed fact masks, Q the quantity intervals by slot. Each item writes its own lines
(``Item.emit``); this module orders them (an item after everything it reads), names them by slot, and ``exec``s the
result. Generated code is used because it is several times faster than walking the item tree; identifiers come from
slot numbers and constants from parsed numbers, so nothing from the ontology's text reaches the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from graphlib import TopologicalSorter

from .code import Code
from .items import ConclusionItem, FindingItem, Group, Item, QuantityItem, Rule

Decider = Callable[[int, int, dict], tuple]


@dataclass
class Compiled:
    items: list[Item]            # by slot
    groups: list[Group]          # by counts index
    outcomes: Decider            # -> tuple of rule statuses, in the order given
    vector: Decider              # -> (statuses by slot, (met, possible) by counts index, flattened)
    outcomes_source: str
    vector_source: str
    # ``lanes(PL, AL, Q, ALL)``: every rule's (MET lanes, NOT_MET lanes), flattened, for many variants of one
    # patient at once (see ``items``); None when a rule's weights are not whole numbers (it cannot count over lanes).
    lanes: Callable[[list[int], list[int], dict, int], tuple[int, ...]] | None
    lanes_source: str
    outcomes_plain: Decider         # outcomes and vector for the ``plain`` numbers (compile_rules' argument)
    vector_plain: Decider
    # One function per rule, (P, A, Q, statuses of the rules before it) -> its status, and what each reads: to
    # re-decide only the rules a new answer can move (next questions).
    per_rule: list[Callable[[int, int, dict, list], int]]
    reads_atoms: list[int]             # fact bits each rule's tree reads (through the rules it depends on too)
    reads_slots: list[frozenset[int]]  # quantity slots it reads
    depends: list[tuple[int, ...]]     # positions of the rules it reads directly
    own_atoms: list[int]               # fact bits its own items read (not through other rules)
    own_slots: list[frozenset[int]]
    depends_mask: list[int]            # the rules it reads directly, as bits over positions
    # per group, by slot (next questions walk them per patient): whether it is monotone, the bits of its finding
    # items, its items with numbers, and the slots of the groups below it (a conclusion's: its rule's)
    walks: dict[int, tuple[bool, int, tuple[Item, ...], tuple[int, ...]]]
    named: list[int]                   # per rule position: the bits of every finding its tree names


def compile_rules(rules: list[Rule], plain: Mapping[int, tuple[float, float]] | None = None) -> Compiled:
    """``plain``: the numbers of a patient who gave none (the scores' whole ranges), for the plain variants."""
    items = _every_item(rules)
    order = list(TopologicalSorter({i: _reads(i) for i in items}).static_order())
    for slot, item in enumerate(order):
        item.slot = slot
    groups = [i for i in order if isinstance(i, Group)]
    for n, group in enumerate(groups):
        group.counts = n
    needed = _needed(rules)
    outcomes_source = _function("outcomes", [i for i in order if i in needed], ", ".join(r.var for r in rules),
                                counts=False)
    vector_source = _function("vector", order, f"({', '.join(i.var for i in order)},), "
                                               f"({', '.join(f'm{g.slot}, p{g.slot}' for g in groups)},)",
                                counts=True)
    lanes_source = _lanes_function([i for i in order if i in needed], rules)
    fixed = dict(plain or {})
    plain_sources = (
        _function("outcomes_plain", [i for i in order if i in needed], ", ".join(r.var for r in rules), counts=False,
                  fixed=fixed)
        + _function("vector_plain", order, f"({', '.join(i.var for i in order)},), "
                                           f"({', '.join(f'm{g.slot}, p{g.slot}' for g in groups)},)",
                    counts=True, fixed=fixed))
    position = {id(r): n for n, r in enumerate(rules)}
    per_rule_sources = [_rule_function(n, rule, order, position) for n, rule in enumerate(rules)]
    namespace: dict = {}
    exec(compile(outcomes_source + vector_source + lanes_source + plain_sources + "".join(per_rule_sources),
                 "<spakg compiled rules>", "exec"), namespace)
    depends = [tuple(sorted(position[id(d)] for d in rule.depends_on())) for rule in rules]
    own_atoms = [_or(f.bit for f in _own(rule) if isinstance(f, FindingItem)) for rule in rules]
    own_slots = [frozenset(c.slot for f in _own(rule) if isinstance(f, FindingItem | QuantityItem) for c in f.comparisons)
                 for rule in rules]
    reads_atoms: list[int] = []
    reads_slots: list[frozenset[int]] = []
    for n in range(len(rules)):  # rules come in dependency order: what a rule reads includes what its inputs read
        atoms, slots = own_atoms[n], set(own_slots[n])
        for d in depends[n]:
            atoms |= reads_atoms[d]
            slots |= reads_slots[d]
        reads_atoms.append(atoms)
        reads_slots.append(frozenset(slots))
    return Compiled(order, groups, namespace["outcomes"], namespace["vector"], outcomes_source, vector_source,
                    namespace.get("lanes"), lanes_source, namespace["outcomes_plain"], namespace["vector_plain"],
                    [namespace[f"rule_{n}"] for n in range(len(rules))],
                    reads_atoms, reads_slots, depends, own_atoms, own_slots, [_or(1 << d for d in ds) for ds in depends],
                    {g.slot: _walk(g) for g in groups}, [rule.named_bits for rule in rules])


def _walk(group: Group) -> tuple[bool, int, tuple[Item, ...], tuple[int, ...]]:
    bits, numbers, below = group.walk
    return (group.monotone, bits, numbers,
            tuple(i.rule.slot if isinstance(i, ConclusionItem) else i.slot for i in below))  # type: ignore[union-attr]


def _or(bits) -> int:
    out = 0
    for b in bits:
        out |= b
    return out


def _own(rule: Rule) -> list[Item]:
    """The items of a rule's own tree (every item, masked finding items included), not those of rules it reads."""
    seen: dict[int, Item] = {}
    stack: list[Item] = [*rule.requires, *rule.items]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, Rule):
            continue
        seen[id(item)] = item
        if isinstance(item, Group):
            stack.extend([*item.requires, *item.items])
    return list(seen.values())


def _rule_function(n: int, rule: Rule, order: list[Item], position: dict[int, int]) -> str:
    """``rule_<n>(P, A, Q, s)``: this rule's status, reading the statuses of the rules it depends on from ``s``."""
    needed: set[Item] = set()
    stack: list[Item] = [rule]
    while stack:
        item = stack.pop()
        if item in needed:
            continue
        needed.add(item)
        if not (isinstance(item, Rule) and item is not rule):
            stack.extend(item.dependencies())
    code = Code(counts=False)
    code.lines.append(f"def rule_{n}(P, A, Q, s):")
    code.line("get = Q.get")
    for item in order:
        if item not in needed:
            continue
        if isinstance(item, Rule) and item is not rule:
            code.line(f"{item.var} = s[{position[id(item)]}]")
        else:
            item.emit(code)
    code.line(f"return {rule.var}")
    return "\n".join(code.lines) + "\n\n"


def _lanes_function(items: list[Item], rules: list[Rule]) -> str:
    """``lanes(PL, AL, Q, ALL)``: every item's lines, in order; nothing when an item cannot be decided over lanes."""
    code = Code()
    code.lines.append("def lanes(PL, AL, Q, ALL):")
    code.line("get = Q.get")
    sharing = _Sharing("MN")
    for item in items:
        own = Code()
        try:
            item.emit_lanes(own)
        except ValueError:
            return ""
        text = sharing.add(item.slot, "\n".join(own.lines))
        if text:
            code.lines.append(text)
    returned = ", ".join(f"{y}, {x}" for r in rules for y, x in [r.lanes()])
    code.line(f"return ({sharing.rename(returned)},)")
    return "\n".join(code.lines) + "\n\n"


def _function(name: str, items: list[Item], returned: str, counts: bool,
              fixed: Mapping[int, tuple[float, float]] | None = None) -> str:
    """``name(P, A, Q)``: every item's lines in order (with ``counts``, groups' counts as well as statuses), shared
    where items compute the same thing (``_Sharing``)."""
    code = Code()
    code.lines.append(f"def {name}(P, A, Q):")
    code.line("get = Q.get")
    sharing = _Sharing("vmp")
    for item in items:
        own = Code(counts=counts, fixed=fixed)
        item.emit(own)
        copy = _COPY.fullmatch(sharing.rename("\n".join(own.lines)).strip())
        if copy:  # a group of one item: its status is the item's, so later lines read the item's variable
            sharing.alias[copy.group(1)] = copy.group(2)
            continue
        text = sharing.add(item.slot, "\n".join(own.lines))
        if text:
            code.lines.append(text)
    returned = sharing.rename(returned)
    code.line(f"return ({returned},)" if "," not in returned and returned else f"return ({returned})")
    return "\n".join(code.lines) + "\n\n"


class _Sharing:
    """Common subexpressions, found on the code itself: an item whose lines, its own names aside, are an earlier
    item's (criteria reuse the same finding with the same cut-off: onset before 45, pain for 3 months) is not written
    again, and later lines (and the result) read the earlier item's names. ``letters``: the prefixes of an item's
    names (``v12``, ``m12``…); a group's counting temporaries (``c12_3``) are its own too."""

    def __init__(self, letters: str) -> None:
        self.letters = letters
        self.names = re.compile(rf"\b[{letters}]\d+\b")
        self.alias: dict[str, str] = {}
        self.seen: dict[str, int] = {}

    def rename(self, text: str) -> str:
        return self.names.sub(lambda m: self.alias.get(m.group(), m.group()), text)

    def add(self, slot: int, text: str) -> str | None:
        """The item's lines to write, or None when they are an earlier item's (or empty)."""
        text = self.rename(text)
        if not text:
            return None
        key = re.sub(rf"\bc{slot}_", "c__", re.sub(rf"\b([{self.letters}]){slot}\b", r"\1_", text))
        first = self.seen.get(key)
        if first is not None:
            self.alias.update({f"{c}{slot}": f"{c}{first}" for c in self.letters})
            return None
        self.seen[key] = slot
        return text


_COPY = re.compile(r"(v\d+) = (v\d+)")


def _every_item(rules: list[Rule]) -> list[Item]:
    seen: dict[int, Item] = {}
    stack: list[Item] = list(rules)
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen[id(item)] = item
        if isinstance(item, Group):
            stack.extend([*item.requires, *item.items])
        if isinstance(item, ConclusionItem) and item.rule is not None:
            stack.append(item.rule)
    return list(seen.values())


def _reads(item: Item) -> list[Item]:
    """Everything that must have a slot before this item: a group's items (masked ones included, for the vector)."""
    if isinstance(item, Group):
        return [*item.requires, *item.items]
    return item.dependencies()


def _needed(rules: list[Rule]) -> set[Item]:
    """The items whose variables the outcomes function must compute (finding items counted by mask are not)."""
    seen: set[Item] = set()
    stack: list[Item] = list(rules)
    while stack:
        item = stack.pop()
        if item not in seen:
            seen.add(item)
            stack.extend(item.dependencies())
    return seen
