"""Criteria side by side: one row per finding (or number) the chosen rules read, so what they share lines up — the
same finding in each rule's column, with the wording, threshold and weight that rule gives it, and where in the rule
it sits."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..rules import ConclusionItem, FindingItem, Group, Item, QuantityItem, Rule
from .explain import Explainer

MAX_RULES = 6


@dataclass(frozen=True)
class Cell:
    label: str         # the item as the rule words it
    needs: str         # its numbers in words, "absent", or its points
    where: str         # "in imaging arm › ≥ 1 SpA feature", "an entry condition", or empty at the top


@dataclass
class Row:
    key: str
    label: str
    href: str | None
    cells: dict[str, list[Cell]] = field(default_factory=dict)   # rule id -> its items on this row

    @property
    def shared_by(self) -> int:
        return len(self.cells)


@dataclass
class Comparison:
    rules: list[Rule]
    rows: list[Row]

    def shared(self) -> list[Row]:
        return [r for r in self.rows if r.shared_by > 1]

    def alone(self) -> list[Row]:
        return [r for r in self.rows if r.shared_by == 1]


def _row_of(item: Item, words: Explainer) -> tuple[str, str, str | None] | None:
    if isinstance(item, FindingItem):
        return item.concept.id, item.concept.label, f"/concepts/{item.concept.id}"
    if isinstance(item, QuantityItem):
        names = sorted({c.quantity for c in item.comparisons})
        return "q:" + ",".join(names), ", ".join(words.quantity(n)[0] for n in names), None
    if isinstance(item, ConclusionItem):
        concluded = item.rule.concludes
        if concluded is not None:
            return concluded.id, concluded.label, f"/concepts/{concluded.id}"
        return "r:" + item.rule.id, item.rule.label, f"/rules/{item.rule.id}"
    return None


def compare(rules: list[Rule], words: Explainer) -> Comparison:
    rows: dict[str, Row] = {}

    def walk(rule_id: str, group: Group, path: list[str], points: bool) -> None:
        for sub, entry in [*((s, True) for s in group.requires), *((s, False) for s in group.items)]:
            if isinstance(sub, Group) and not isinstance(sub, Rule):
                walk(rule_id, sub, [*path, sub.label], words.has_points(sub))
                continue
            found = _row_of(sub, words)
            if found is None:
                continue
            key, label, href = found
            row = rows.setdefault(key, Row(key, label, href))
            needs = []
            if isinstance(sub, (FindingItem, QuantityItem)) and sub.comparisons:
                needs.append(words.requirement(sub))
            if isinstance(sub, FindingItem) and not sub.expects_present:
                needs.append("absent")
            if isinstance(sub, ConclusionItem):
                needs.append(f"by {sub.rule.short_label or sub.rule.label}")
            if points and not entry:
                needs.append(f"{sub.weight:g} point{'' if sub.weight == 1 else 's'}")
            where = ("in " + " › ".join(path) if path else "") + (", " if path and entry else "")
            where += "an entry condition" if entry else ""
            row.cells.setdefault(rule_id, []).append(Cell(sub.label, "; ".join(needs), where))

    for rule in rules:
        walk(rule.id, rule, [], words.has_points(rule))
    ordered = sorted(rows.values(), key=lambda r: -r.shared_by)  # stable: first seen first among equals
    return Comparison(rules, ordered)
