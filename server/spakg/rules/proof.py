"""A patient's proof vector (every item's status, every group's counts) and the proof steps built from it on demand."""

from __future__ import annotations

from .items import Group, Item, Rule, Step


class Proof:
    __slots__ = ("_counts", "_statuses", "_steps")

    def __init__(self, statuses: tuple[int, ...], counts: tuple[float, ...]) -> None:
        self._statuses = statuses
        self._counts = counts
        self._steps: dict[int, Step] = {}

    def status(self, item: Item) -> int:
        return self._statuses[item.slot]

    def rule_statuses(self, rules: list[Rule]) -> tuple[int, ...]:
        statuses = self._statuses
        return tuple(statuses[r.slot] for r in rules)

    def counts(self, group: Group) -> tuple[float, float]:
        return self._counts[2 * group.counts], self._counts[2 * group.counts + 1]

    def step(self, item: Item) -> Step:
        """The item's step, built once per patient (a shared item, like an SpA feature, has one step)."""
        step = self._steps.get(item.slot)
        if step is None:
            step = self._steps[item.slot] = item.step(self)
        return step
