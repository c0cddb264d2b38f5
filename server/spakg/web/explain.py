"""A proof in words, with the patient's own values: the reasoner's proof entries (``proof.inference_dict``) read
against the compiled rules, so a leaf says "back pain: age at onset 27 < 40 years" rather than "ageAtOnset < 40",
and a group says "2 of 4 needed, 3 met" only where counting is what it does. Built per version (the item table);
each request only walks its proof."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..knowledge import Knowledge
from ..rules import Comparison, FindingItem, Group, Item, QuantityItem, Rule
from .article_view import rule_items

PHRASES = {"lessThan": "<", "atMost": "≤", "greaterThan": ">", "atLeast": "≥"}


@dataclass
class Line:
    status: str                 # MET, NOT_MET, UNDETERMINED
    text: str                   # what the item asks, as the criterion words it
    fact: str = ""              # what the patient's facts say about it, with their values
    href: str | None = None     # the concept or rule it is about
    needs: str = ""             # a group: how many of its items it needs, and how many are met
    requires: list[Line] = field(default_factory=list)
    items: list[Line] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return bool(self.items or self.requires)


def number(x: float) -> str:
    return f"{x:g}"


class Explainer:
    def __init__(self, k: Knowledge) -> None:
        self.k = k
        self.items: dict[str, Item] = {}
        for rule in k.rules.order:
            self.items[rule.id] = rule
            for item in rule_items(rule):
                self.items.setdefault(item.id, item)
        self.quantities = k.facts.quantities

    # ------------------------------------------------------------------ words
    def quantity(self, name: str) -> tuple[str, str]:
        q = self.quantities.get(name)
        return (q.label, q.unit) if q is not None else (name, "")

    def comparison(self, c: Comparison, value) -> str:
        """"age at onset 27 < 40 years"; an unknown value: "age at onset not given (needs < 40 years)"."""
        label, unit = self.quantity(c.quantity)
        unit = "" if unit in ("", "points") or unit.startswith("points") else f" {unit}"
        wanted = f"{PHRASES.get(c.op, c.op)} {number(c.value)}{unit}"
        if value is None:
            return f"{label} not given (needs {wanted})"
        if isinstance(value, dict):  # an interval: a score with an input still unknown
            low, high = value.get("low"), value.get("high")
            if low == high:
                return f"{label} {number(low)} {wanted}"
            return f"{label} between {number(low)} and {number(high)} while inputs are missing (needs {wanted})"
        return f"{label} {number(value)} {wanted}"

    def label(self, concept_id: str) -> str:
        c = self.k.concepts.find(concept_id)
        return c.label if c is not None else concept_id

    def finding_fact(self, item: Item | None, f: dict, status: str) -> str:
        name = self.label(f["concept"])
        state, expects = f.get("state"), f.get("expects", "present")
        if state == "unknown":
            return f"{name}: not known"
        stated = f.get("statedBy") or []
        others = [s for s in stated if s["concept"] != f["concept"] or s["present"] != (state == "present")]
        said = f"{name}: {'stated ' if stated and not others else ''}{state}"
        if state != expects:
            said += f" (the item needs it {expects})"
        values = f.get("values") or {}
        comparisons = item.comparisons if isinstance(item, FindingItem) else ()
        if comparisons and state == "present":
            said += "; " + "; ".join(self.comparison(c, values.get(c.quantity)) for c in comparisons)
        if others:
            said += " — follows from " + ", ".join(
                f"{self.label(s['concept'])} stated {'present' if s['present'] else 'absent'}" for s in others)
        return said

    def needs(self, item: Item | None, e: dict) -> str:
        threshold, total, met = e.get("threshold"), e.get("total"), e.get("met", 0)
        if threshold is None or total is None or total <= 1:
            return ""
        points = isinstance(item, (Group, Rule)) and any(getattr(sub, "weight", 1) != 1 for sub in item.items)
        unit = " points" if points else ""
        if threshold >= total and not points:
            return f"all {number(total)} needed, {number(met)} met"
        return f"{number(threshold)} of {number(total)}{unit} needed, {number(met)} met"

    # ------------------------------------------------------------------ a criterion as written
    def requirement(self, item: Item) -> str:
        """An item's numbers in words: "age at onset < 45 years, duration ≥ 3 months"."""
        out = []
        for c in getattr(item, "comparisons", ()):
            label, unit = self.quantity(c.quantity)
            unit = "" if unit in ("", "points") or unit.startswith("points") else f" {unit}"
            out.append(f"{label} {PHRASES.get(c.op, c.op)} {number(c.value)}{unit}")
        return ", ".join(out)

    @staticmethod
    def has_points(group: Group) -> bool:
        return any(sub.weight != 1 for sub in group.items)

    def joins(self, group: Group) -> tuple[str, str | None]:
        """How a group's items combine, as the paper says it, and the word drawn between them (None: a count)."""
        n, needed = len(group.items), group.needed
        if self.has_points(group):
            return f"at least {number(needed)} of {number(group.total_weight)} points", None
        if needed >= n:
            return ("all of" if n > 1 else "this"), ("and" if n > 1 else None)
        if needed == 1:
            return f"any one of {n}", "or"
        return f"at least {number(needed)} of these {n}", None

    # ------------------------------------------------------------------ the tree
    def line(self, e: dict) -> Line:
        item = self.items.get(e.get("item", ""))
        out = Line(e["status"], e.get("label", ""))
        if "finding" in e:
            out.fact = self.finding_fact(item, e["finding"], e["status"])
            out.href = f"/concepts/{e['finding']['concept']}"
        elif "quantity" in e:
            values = e["quantity"].get("values") or {}
            comparisons = item.comparisons if isinstance(item, QuantityItem) else ()
            out.fact = "; ".join(self.comparison(c, values.get(c.quantity)) for c in comparisons)
        elif e.get("conclusionOf"):
            rule = self.k.rules.rules.get(e["conclusionOf"])
            out.href = f"/rules/{e['conclusionOf']}"
            if rule is not None:
                word = {"MET": "met", "NOT_MET": "not met"}.get(e.get("conclusionStatus", ""), "undetermined")
                out.fact = f"{rule.label}: {word}"
        if "items" in e or e.get("requires"):
            out.needs = self.needs(item, e)
            out.requires = [self.line(x) for x in e.get("requires") or []]
            out.items = [self.line(x) for x in e.get("items") or []]
        return out

    def rule(self, rule: Rule, entry: dict) -> Line:
        ex = entry["explanation"]
        out = Line(entry["status"], rule.label, href=f"/rules/{rule.id}")
        out.needs = self.needs(rule, ex)
        out.requires = [self.line(x) for x in ex.get("requires") or []]
        out.items = [self.line(x) for x in ex.get("items") or []]
        return out
