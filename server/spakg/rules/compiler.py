"""Compile the rules' item DAG into two plain Python functions, once per ontology load.

* ``outcomes(P, A, Q)``: every rule's status, in dependency order (the hot path of assessments and cohort screens);
* ``vector(P, A, Q)``: every item's status and every group's (met, possible): the whole proof, as two tuples, from
  which proof steps are built only when someone reads them.

P and A are the patient's closed fact masks, Q the quantity intervals by slot. Each item writes its own lines
(``Item.emit``); this module orders them (an item after everything it reads), names them by slot, and ``exec``s the
result. Generated code is used because it is several times faster than walking the item tree; identifiers come from
slot numbers and constants from parsed numbers, so nothing from the ontology's text reaches the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from graphlib import TopologicalSorter

from .items import ConclusionItem, Group, Item, Rule

Decider = Callable[[int, int, dict], tuple]


class Code:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)


@dataclass
class Compiled:
    items: list[Item]            # by slot
    groups: list[Group]          # by counts index
    outcomes: Decider            # -> tuple of rule statuses, in the order given
    vector: Decider              # -> (statuses by slot, (met, possible) by counts index, flattened)
    outcomes_source: str
    vector_source: str


def compile_rules(rules: list[Rule]) -> Compiled:
    items = _every_item(rules)
    order = list(TopologicalSorter({i: _reads(i) for i in items}).static_order())
    for slot, item in enumerate(order):
        item.slot = slot
    groups = [i for i in order if isinstance(i, Group)]
    for n, group in enumerate(groups):
        group.counts = n
    needed = _needed(rules)
    outcomes_source = _function("outcomes", [i for i in order if i in needed], ", ".join(r.var for r in rules))
    vector_source = _function("vector", order, f"({', '.join(i.var for i in order)},), "
                                               f"({', '.join(f'm{g.slot}, p{g.slot}' for g in groups)},)")
    namespace: dict = {}
    exec(compile(outcomes_source + vector_source, "<spakg compiled rules>", "exec"), namespace)
    return Compiled(order, groups, namespace["outcomes"], namespace["vector"], outcomes_source, vector_source)


def _function(name: str, items: list[Item], returned: str) -> str:
    code = Code()
    code.lines.append(f"def {name}(P, A, Q):")
    code.line("get = Q.get")
    for item in items:
        item.emit(code)
    code.line(f"return ({returned},)" if "," not in returned and returned else f"return ({returned})")
    return "\n".join(code.lines) + "\n\n"


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
