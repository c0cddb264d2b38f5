"""The column screener: a partition in the cohort layout decided with numpy, column by column, no row at a time.

``screen_records`` is the definition; this is the same function for a table, and a test holds the two equal on
every vignette and on thousands of random and clinic patients. Every step of the record path has its column form:

* the stated findings' consequences are ORed into fact masks, one row of 64-bit words per patient;
* a number on a finding makes it present, fills its slot and is carried up to the classes above it (an interval
  over several subclasses' numbers), as ``FactSpace._slots`` does; measurements fill theirs;
* bounds (the patient is at least as old as the back pain's onset plus its duration; the onset is below the age plus
  a year less the duration) and scores (BASDAI, ASDAS)
  are computed by their formulas over arrays (``Formula.intervals``);
* the closure's definitions: each component's atoms are read from the masks as a small integer per row, each
  distinct value is worked out once (``Component.consequences``), and its consequences are ORed back;
* the rules are decided for all rows at once (``rules.batch``).

A row the columns cannot vouch for — a number out of range, a number on an absent finding, an unknown sex, a bound
or score its stated numbers contradict, facts that contradict each other — is sent through ``screen_records``, so
its error message is the record path's own.
"""

from __future__ import annotations

import numpy as np

from .cohort import Layout, float_columns, records_from_frame, results_frame, screen_records
from .knowledge import Knowledge
from .logic import bit_indices
from .rules import STATUS_NAMES
from .rules.batch import BatchDecider

_WORD = 64


class ColumnScreener:
    def __init__(self, k: Knowledge, layout: Layout) -> None:
        self.k, self.layout = k, layout
        space = k.facts
        self.space = space
        closure = space.closure
        self.words = max(1, (closure.kept + _WORD - 1) // _WORD)
        lit = closure.lit
        index = space.index
        # per finding column: its consequences as words (present if true, absent if true, present if false, absent
        # if false)
        self.bits = {c: tuple(self._words(m) for m in (*lit[2 * index[c]], *lit[2 * index[c] + 1]))
                     for c in layout.findings}
        table = space.quantities
        self.numbers = {}  # (concept, quantity) -> (concept, slot, the slots it is carried up to, minimum, maximum)
        for concept, name in layout.numbers:
            q, i = table[name], index[concept]
            self.numbers[(concept, name)] = (concept, table.slot(name, i), space._carried(space.observable[i], i, name),
                                             q.minimum, q.maximum)
        self.patient_slots = {n: (table.slot(n), table[n].minimum, table[n].maximum) for n in table.patient_names}
        self.base = tuple(self._words(m) for m in closure.base)
        # each component of definitions: its atoms (word, shift), and its consequences by key, filled as met
        self.components = [([(b // _WORD, b % _WORD) for b in bit_indices(c.mask)], c) for c in closure.components]
        self.decider = BatchDecider(k.rules.compiled.items, k.rules.order)

    def _words(self, mask: int) -> np.ndarray:
        return np.array([(mask >> (_WORD * w)) & 0xFFFFFFFFFFFFFFFF for w in range(self.words)], dtype=np.uint64)

    # ------------------------------------------------------------------ results
    def screen(self, frame, first_row: int = 0) -> dict[str, list]:
        """``screen_records``' columns for this partition (row, id, one per rule, error)."""
        ids, codes, errors = self.codes(frame)
        n = len(frame)
        out: dict[str, list] = {"row": list(range(first_row, first_row + n)), "id": ids}
        names = np.array([*STATUS_NAMES, None], dtype=object)  # -1: the row could not be read
        for i, rule in enumerate(self.k.rules.order):
            out[rule.id] = names[codes[:, i]].tolist()
        out["error"] = errors
        return out

    def frame(self, frame, first_row: int = 0):
        """The same as a pandas DataFrame, each rule a categorical column built from its codes (no strings)."""
        ids, codes, errors = self.codes(frame)
        rows = np.arange(first_row, first_row + len(frame), dtype=np.int64)
        return results_frame([r.id for r in self.k.rules.order], rows, ids, codes, errors)

    def codes(self, frame) -> tuple[list[str | None], np.ndarray, list[str | None]]:
        """Each row's id, its statuses as codes (rows × rules; -1 where the row could not be read) and its error."""
        n = len(frame)
        ids = _texts(frame, "id", n)
        slow = np.zeros(n, bool)
        present, absent, values = self._facts(frame, n, slow)
        codes = self.decider.decide(_bool_bits(present, self.space.closure.kept),
                                    _bool_bits(absent, self.space.closure.kept), values)
        errors: list[str | None] = [None] * n
        rows = np.flatnonzero(slow)
        if len(rows):
            again = screen_records(self.k, records_from_frame(self.layout, frame.iloc[rows]))
            position = {name: code for code, name in enumerate(STATUS_NAMES)}
            for pos, r in enumerate(rows.tolist()):
                ids[r] = again["id"][pos]
                errors[r] = again["error"][pos]
                for i, rule in enumerate(self.k.rules.order):
                    status = again[rule.id][pos]
                    codes[r, i] = -1 if status is None else position[status]
        return ids, codes, errors

    # ------------------------------------------------------------------ facts
    def _facts(self, frame, n: int, slow: np.ndarray):
        """The closed fact masks (rows × words, present and absent) and the numbers by slot, (low, high) arrays with
        NaN where unknown; rows the record path must explain are marked in ``slow``."""
        columns = set(frame.columns)
        findings = [c for c in self.layout.findings if c in columns]
        P = np.zeros((n, self.words), np.uint64)
        A = np.zeros((n, self.words), np.uint64)
        state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if findings:
            stated = frame[findings].astype("boolean")
            yes = stated.fillna(False).to_numpy(bool)
            no = (~stated).fillna(False).to_numpy(bool)
            for i, c in enumerate(findings):
                state[c] = (yes[:, i], no[:, i])
        values: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        anything = self._numbers(frame, columns, n, state, values, slow)
        given = self._measurements(frame, columns, n, values, slow)
        anything |= given
        for c, (yes_rows, no_rows) in state.items():
            p_yes, a_yes, p_no, a_no = self.bits[c]
            if yes_rows.any():
                P[yes_rows] |= p_yes
                A[yes_rows] |= a_yes
            if no_rows.any():
                P[no_rows] |= p_no
                A[no_rows] |= a_no
        sexes = _texts(frame, "sex", n)
        for r, sex in enumerate(sexes):
            if sex is not None and sex not in ("MALE", "FEMALE"):
                slow[r] = True
        self._bounds(values, anything, slow, n)
        self._scores(values, given, n)
        self._close(P, A, slow)
        return P, A, values

    def _numbers(self, frame, columns: set[str], n: int, state: dict, values: dict, slow: np.ndarray) -> np.ndarray:
        """Numbers on findings: their slots, the classes above they are carried to, the finding made present."""
        anything = np.zeros(n, bool)
        stated_slots: dict[int, np.ndarray] = {}
        carried: dict[int, list[np.ndarray]] = {}
        for key, (concept, slot, carry, low, high) in self.numbers.items():
            column = self.layout.number_column(*key)
            if column not in columns:
                continue
            v = float_columns(frame, [column], n)[:, 0]
            has = ~np.isnan(v)
            if not has.any():
                continue
            anything |= has
            slow |= has & ((v < low) | (v > high))
            yes_rows, no_rows = state.get(concept, (None, None))
            if no_rows is not None:
                slow |= has & no_rows
            if yes_rows is None:
                state[concept] = (has, np.zeros(n, bool))
            else:  # a number makes its finding present
                state[concept] = (yes_rows | has, no_rows)
            values[slot] = (v, v)
            stated_slots[slot] = has
            for target in carry:
                carried.setdefault(target, []).append(v)
        for target, numbers in carried.items():
            stacked = np.vstack(numbers)
            known = ~np.isnan(stacked).all(axis=0)
            with np.errstate(invalid="ignore"):
                lo = np.where(known, np.nanmin(np.where(np.isnan(stacked), np.inf, stacked), axis=0), np.nan)
                hi = np.where(known, np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0), np.nan)
            own = stated_slots.get(target)
            if own is not None:  # a stated number on the class itself wins over what its subclasses carry up
                lo = np.where(own, values[target][0], lo)
                hi = np.where(own, values[target][1], hi)
            values[target] = (lo, hi)
        return anything

    def _measurements(self, frame, columns: set[str], n: int, values: dict, slow: np.ndarray) -> np.ndarray:
        given = np.zeros(n, bool)
        for name in (*self.layout.measurements, "age"):
            if name not in columns or name not in self.patient_slots:
                continue
            slot, low, high = self.patient_slots[name]
            v = float_columns(frame, [name], n)[:, 0]
            has = ~np.isnan(v)
            slow |= has & ((v < low) | (v > high))
            given |= has
            values[slot] = (v, v)
        return given

    def _bounds(self, values: dict, rows: np.ndarray, slow: np.ndarray, n: int) -> None:
        """``FactSpace._bound`` for every row with a number or a measurement."""
        known = set(values)  # stated numbers and measurements (NaN in the rows that give none)
        for b in self.space.bounds:
            q = b.quantity
            low, high = b.formula.intervals(values, n)
            limit = high if b.upper else low  # as Bound: below the formula's greatest, at least its least
            applies = rows & ((limit < q.maximum) if b.upper else (limit > q.minimum))
            impossible = (limit <= q.minimum) if b.upper else (limit > q.maximum)
            stated = values.get(b.slot) if b.slot in known else None
            if stated is not None:
                with np.errstate(invalid="ignore"):
                    outside = (stated[0] >= limit) if b.upper else (stated[1] < limit)
                slow |= applies & (outside | impossible)
                unstated = applies & np.isnan(stated[0])
                lo, hi = stated
            else:
                slow |= applies & impossible
                unstated = applies
                lo = hi = np.full(n, np.nan)
            if b.upper:
                values[b.slot] = (np.where(unstated, q.minimum, lo), np.where(unstated, np.nextafter(limit, -np.inf), hi))
            else:
                values[b.slot] = (np.where(unstated, limit, lo), np.where(unstated, q.maximum, hi))

    def _scores(self, values: dict, given: np.ndarray, n: int) -> None:
        """``FactSpace._score``: a score over its inputs' intervals, its whole range where nothing it reads is known.
        (The layout has no column for a score itself, so no stated score is checked here.)"""
        for slot, formula in self.space.score_formulas.items():
            default = self.space._score_defaults[slot]
            known = np.zeros(n, bool)
            for s in formula.slots:
                if s in values:
                    known |= ~np.isnan(values[s][0])
            known &= given
            if not known.any():
                values[slot] = (np.full(n, default[0]), np.full(n, default[1]))
                continue
            lo, hi = formula.intervals(values, n)
            values[slot] = (np.where(known, lo, default[0]), np.where(known, hi, default[1]))

    def _close(self, P: np.ndarray, A: np.ndarray, slow: np.ndarray) -> None:
        """``Closure.finish`` for every row: the global truths, a contradiction check, each component by key."""
        P |= self.base[0]
        A |= self.base[1]
        slow |= (P & A).any(axis=1)
        for atoms, component in self.components:
            key = np.zeros(len(P), np.int64)
            for j, (w, s) in enumerate(atoms):
                key |= ((P[:, w] >> np.uint64(s)) & np.uint64(1)).astype(np.int64) << j
                key |= ((A[:, w] >> np.uint64(s)) & np.uint64(1)).astype(np.int64) << (j + len(atoms))
            distinct, inverse = np.unique(key, return_inverse=True)
            extra_p = np.zeros((len(distinct), self.words), np.uint64)
            extra_a = np.zeros((len(distinct), self.words), np.uint64)
            impossible = np.zeros(len(distinct), bool)
            for u, value in enumerate(distinct.tolist()):
                kp = ka = 0
                for j, (w, s) in enumerate(atoms):
                    bit = 1 << (w * _WORD + s)
                    if value >> j & 1:
                        kp |= bit
                    if value >> (j + len(atoms)) & 1:
                        ka |= bit
                found = component.consequences((kp, ka))
                if found is None:
                    impossible[u] = True
                else:
                    extra_p[u] = self._words(found[0])
                    extra_a[u] = self._words(found[1])
            P |= extra_p[inverse]
            A |= extra_a[inverse]
            slow |= impossible[inverse]


def _bool_bits(words: np.ndarray, width: int) -> np.ndarray:
    """Rows of 64-bit words as a bool matrix (rows × bits), bit i of word w at column 64 w + i."""
    as_bytes = np.ascontiguousarray(words.astype("<u8")).view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :max(width, 1)].astype(bool)


def _texts(frame, column: str, n: int) -> list[str | None]:
    """A text column as str or None per row (pandas may hold a missing cell as None, NaN or NA)."""
    if column not in frame.columns:
        return [None] * n
    series = frame[column]
    return [None if missing else str(value) for value, missing in zip(series.tolist(), series.isna().tolist(), strict=True)]
