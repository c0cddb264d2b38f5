"""A small SAT search over a closure's clauses (literals ``2 * atom`` true, ``2 * atom + 1`` false): DPLL with unit
propagation over occurrence lists. Below both the closure (which decides subsumption between existential fillers
with it, while compiling) and its explanations (which drop axioms a contradiction does not need)."""

from __future__ import annotations


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


__all__ = ["satisfiable"]
