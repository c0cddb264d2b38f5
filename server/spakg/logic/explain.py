"""Why a closure concluded what it did: the error path and the proof path, never the hot path.

* ``minimal_conflict``: a smallest-by-deletion subset of contradictory facts.
* ``justification``: the axioms that make those facts contradict each other, found by unit propagation that
  remembers which clause set each literal (conflict analysis, as in a SAT solver); when propagation alone cannot see
  the conflict (it needs reasoning by cases), a small DPLL search drops axioms one by one until none can be spared.
* ``support``: a smallest-by-deletion subset of the facts that entail one literal (for a proof's "stated by").
"""

from __future__ import annotations

from .axioms import Axiom
from .closure import Closure, Inconsistent
from .sat import satisfiable

_DPLL_BUDGET = 300  # satisfiability checks the fallback may spend on one explanation


def minimal_conflict(closure: Closure, literals: list[int]) -> list[int]:
    """Indices into ``literals`` of an inconsistent subset from which no literal can be dropped."""
    keep = list(range(len(literals)))
    for i in list(keep):
        trial = [literals[j] for j in keep if j != i]
        if not closure.consistent(trial):
            keep.remove(i)
    return keep


def support(closure: Closure, literals: list[int], target: int) -> list[int]:
    """Indices into ``literals`` of a subset that still entails ``target``, from which none can be dropped."""
    keep = list(range(len(literals)))
    for i in list(keep):
        trial = [literals[j] for j in keep if j != i]
        if _entails(closure, trial, target):
            keep.remove(i)
    return keep


def _entails(closure: Closure, literals: list[int], target: int) -> bool:
    try:
        p, a = closure.close(literals)
    except Inconsistent:
        return True
    return bool((a if target & 1 else p) >> (target >> 1) & 1)


def justification(closure: Closure, literals: list[int]) -> list[Axiom]:
    """The axioms that, with ``literals``, are contradictory (empty if the literals contradict each other directly)."""
    clauses = [lits for lits, _ in closure.clauses]
    used = _propagation_conflict(clauses, literals)
    if used is not None:
        return _axioms(closure, sorted(used))
    chosen = list(range(len(clauses)))  # by cases: drop every clause the contradiction does not need
    budget = _DPLL_BUDGET
    for axiom in _distinct(closure, chosen):
        if budget <= 0:
            break
        trial = [i for i in chosen if closure.clauses[i][1] is not axiom]
        budget -= 1
        if not satisfiable([clauses[i] for i in trial], literals):
            chosen = trial
    return _axioms(closure, chosen)


def _axioms(closure: Closure, clause_ids: list[int]) -> list[Axiom]:
    return _distinct(closure, clause_ids)


def _distinct(closure: Closure, clause_ids: list[int]) -> list[Axiom]:
    out: list[Axiom] = []
    for i in clause_ids:
        axiom = closure.clauses[i][1]
        if all(axiom is not a for a in out):
            out.append(axiom)
    return out


def _propagation_conflict(clauses: list[list[int]], assumptions: list[int]) -> set[int] | None:
    """Unit propagation from the assumptions; on a conflict, the clauses it used (else None)."""
    value: dict[int, bool] = {}
    reason: dict[int, int | None] = {}
    for lit in assumptions:
        atom, truth = lit >> 1, not lit & 1
        if value.get(atom, truth) != truth:
            return set()  # the facts contradict each other without any axiom
        value[atom], reason[atom] = truth, None
    changed = True
    while changed:
        changed = False
        for ci, lits in enumerate(clauses):
            open_lit = None
            n_open = 0
            satisfied = False
            for lit in lits:
                v = value.get(lit >> 1)
                if v is None:
                    n_open += 1
                    open_lit = lit
                elif v == (not lit & 1):
                    satisfied = True
                    break
            if satisfied:
                continue
            if n_open == 0:
                return _trace(clauses, reason, ci)
            if n_open == 1:
                value[open_lit >> 1], reason[open_lit >> 1] = not open_lit & 1, ci  # type: ignore[operator]
                changed = True
    return None


def _trace(clauses: list[list[int]], reason: dict[int, int | None], conflict: int) -> set[int]:
    used = {conflict}
    stack = [conflict]
    while stack:
        for lit in clauses[stack.pop()]:
            why = reason.get(lit >> 1)
            if why is not None and why not in used:
                used.add(why)
                stack.append(why)
    return used
