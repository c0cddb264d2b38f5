"""Every rule's status for many patients at once: the compiled items evaluated over numpy arrays, one array per item.

The per-patient code (``compiler``) is faster for one patient; for a cohort partition the same decisions are made
column-wise, each item once for all rows. The semantics are the per-patient code's, item kind by item kind (a test
holds the two equal):

* a finding: MET when its bit is present (absent for "not …"), NOT_MET on the opposite bit, else UNDETERMINED (MET if
  unknown counts as met); with numbers, the least status of its comparisons while the finding is present;
* a comparison: UNDETERMINED while its number is unknown; decided only when the whole interval is on one side;
* a group: MET when the weight of its MET items reaches the threshold, NOT_MET when even its undetermined ones could
  not, then no better than its entry conditions;
* a conclusion: the referenced rule's status (MET unless NOT_MET, where undetermined is accepted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .items import INTERVAL_TESTS, Comparison, ConclusionItem, FindingItem, Group, Item, QuantityItem, Rule


class BatchDecider:
    def __init__(self, items: Sequence[Item], rules: Sequence[Rule]) -> None:
        self.items = list(items)          # in slot (dependency) order
        self.rules = list(rules)
        self.slots = sorted({c.slot for i in self.items if isinstance(i, FindingItem | QuantityItem)
                             for c in i.comparisons})

    def decide(self, present: np.ndarray, absent: np.ndarray, values: dict[int, tuple[np.ndarray, np.ndarray]]
               ) -> np.ndarray:
        """``present``/``absent``: bool matrices (rows × fact bits); ``values``: slot -> (low, high) arrays, NaN where
        unknown. Returns an int8 matrix (rows × rules) of statuses, rules in the order given."""
        n = present.shape[0]
        status: list[np.ndarray | None] = [None] * len(self.items)
        compared: dict[Comparison, np.ndarray] = {}
        nan = np.full(n, np.nan)

        def comparison(c: Comparison) -> np.ndarray:
            found = compared.get(c)
            if found is None:
                low, high = values.get(c.slot, (nan, nan))
                met, not_met = INTERVAL_TESTS[c.op]
                with np.errstate(invalid="ignore"):  # NaN (unknown) compares false; it is UNDETERMINED below
                    decided = np.where(met(low, high, c.value), 2, np.where(not_met(low, high, c.value), 0, 1))
                found = compared[c] = np.where(np.isnan(low), 1, decided).astype(np.int8)
            return found

        def least(comparisons: tuple[Comparison, ...]) -> np.ndarray:
            return np.minimum.reduce([comparison(c) for c in comparisons])

        for item in self.items:
            if isinstance(item, FindingItem):
                bit = item.bit.bit_length() - 1
                yes, no = (present[:, bit], absent[:, bit]) if item.expects_present else (absent[:, bit], present[:, bit])
                unknown = 2 if item.accept_unknown else 1
                if item.comparisons:
                    # numbers only where the finding is present (a "not …" finding with numbers is not written)
                    out = np.where(present[:, bit], least(item.comparisons), np.where(absent[:, bit], 0, unknown))
                else:
                    out = np.where(yes, 2, np.where(no, 0, unknown))
            elif isinstance(item, QuantityItem):
                out = least(item.comparisons)
            elif isinstance(item, ConclusionItem):
                source = status[item.rule.slot]  # type: ignore[union-attr]
                out = 2 - source if item.negated else np.where(source > 0, 2, 0) if item.accept_undetermined \
                    else source
            elif isinstance(item, Group):
                met = np.zeros(n, np.float64)
                possible = np.zeros(n, np.float64)
                for child in item.items:
                    s = status[child.slot]
                    met += child.weight * (s == 2)
                    possible += child.weight * (s > 0)
                need = item.needed
                out = np.where(met >= need, 2, np.where(possible < need, 0, 1))
                for r in item.requires:
                    out = np.minimum(out, status[r.slot])
            else:  # pragma: no cover - every item kind is above
                raise TypeError(type(item).__name__)
            status[item.slot] = np.asarray(out, dtype=np.int8)
        return np.stack([status[r.slot] for r in self.rules], axis=1)

