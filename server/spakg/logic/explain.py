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


def satisfiable(clauses: list[list[int]], assumptions: list[int]) -> bool:
    """Whether the clauses and the assumed literals can all hold: DPLL with unit propagation over occurrence lists."""
    occurs: dict[int, list[int]] = {}
    for ci, lits in enumerate(clauses):
        for lit in lits:
            occurs.setdefault(lit, []).append(ci)
    value: dict[int, bool] = {}
    for lit in assumptions:
        if value.get(lit >> 1, not lit & 1) != (not lit & 1):
            return False
        value[lit >> 1] = not lit & 1
    for lits in clauses:
        if len(lits) == 1 and not _assign(clauses, occurs, value, lits[0]):
            return False
    if not _propagate_all(clauses, occurs, value, list(assumptions)):
        return False
    return _search(clauses, occurs, value)


def _assign(clauses, occurs, value: dict[int, bool], lit: int) -> bool:
    truth = not lit & 1
    known = value.get(lit >> 1)
    if known is not None:
        return known == truth
    value[lit >> 1] = truth
    return _propagate_all(clauses, occurs, value, [lit])


def _propagate_all(clauses, occurs, value: dict[int, bool], queue: list[int]) -> bool:
    """Every clause holding a literal just made false: conflict if it has no literal left, else force its last one."""
    while queue:
        lit = queue.pop()
        for ci in occurs.get(lit ^ 1, ()):
            open_lit = None
            n_open = 0
            for other in clauses[ci]:
                v = value.get(other >> 1)
                if v is None:
                    n_open += 1
                    open_lit = other
                elif v == (not other & 1):
                    break
            else:
                if n_open == 0:
                    return False
                if n_open == 1:
                    value[open_lit >> 1] = not open_lit & 1  # type: ignore[operator]
                    queue.append(open_lit)  # type: ignore[arg-type]
    return True


def _search(clauses, occurs, value: dict[int, bool]) -> bool:
    for lits in clauses:
        if any(value.get(lit >> 1) == (not lit & 1) for lit in lits):
            continue
        branch = next(lit for lit in lits if lit >> 1 not in value)  # a conflict would have been found already
        for choice in (branch, branch ^ 1):
            trial = dict(value)
            trial[choice >> 1] = not choice & 1
            if _propagate_all(clauses, occurs, trial, [choice]) and _search(clauses, occurs, trial):
                return True
        return False
    return True
