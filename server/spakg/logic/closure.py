"""The fact closure: what a patient's stated findings entail under the ontology, exactly, in a few integer ops.

The class axioms are clauses over atoms (named classes and existential restrictions; see ``axioms``). A patient's
facts are literals over the same atoms. What they entail is computed in two parts, both compiled once:

* Binary clauses (subclass, disjointness) form an implication graph; each literal's consequences are one pair of bit
  masks (atoms made true, atoms made false). For binary clauses this is exact: the consequences of a set of literals
  are the union of each one's consequences.
* Longer clauses (intersections, unions, complements: ``MixedBackPain ≡ InflammatoryBackPain and
  MechanicalBackPain``) mention few atoms. Those atoms fall into small independent components (joined by a shared
  clause or an implication). Each component's consistent assignments are enumerated once; a patient's entailments in
  a component are what every assignment compatible with the patient entails, memoised by the patient's projection on
  the component. So the closure stays exact, including entailments by cases.

Only what a patient can state matters, so before compiling, every other atom (investigations, processes, existential
restrictions, ...) is eliminated by resolution (Davis-Putnam): the clauses left are exactly the consequences of the
axioms over the observable classes. Explanations still use the axioms' own clauses.

Literals are ints: ``2 * atom`` is the atom, ``2 * atom + 1`` its negation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from ..errors import OntologyError
from .axioms import Axiom, AxiomSet
from .expressions import THING, Atom, Clause, Named, Some, local
from .sat import satisfiable

MAX_COMPONENT_ATOMS = 12  # 4,096 assignments to enumerate for the largest component


class Inconsistent(Exception):
    """The literals cannot all hold (FactSpace turns this into ContradictoryFacts with an explanation)."""


@dataclass
class Component:
    mask: int                     # its atoms, as bits
    clauses: list[list[int]]      # its long clauses (literal ints)
    valid: list[tuple[int, int, int, int]] = field(default_factory=list)  # (mP, mA, closure P, closure A)
    base_key: tuple[int, int] = (0, 0)
    memo: dict[tuple[int, int], tuple[int, int] | None] = field(default_factory=dict)

    def consequences(self, key: tuple[int, int]) -> tuple[int, int] | None:
        """What every assignment compatible with ``key`` entails; None if there is none (inconsistent)."""
        found = self.memo.get(key, False)
        if found is not False:
            return found  # type: ignore[return-value]
        kp, ka = key
        add_p = add_a = -1
        for mp, ma, cp, ca in self.valid:
            if mp & ka or ma & kp:
                continue
            add_p &= cp
            add_a &= ca
        result = None if add_p == -1 else (add_p, add_a)
        if len(self.memo) < 65536:
            self.memo[key] = result
        return result


class Closure:
    """Compiled closure over ``atoms`` (given order first: the observable classes, so their bits are compact)."""

    def __init__(self, first_atoms: list[Atom], axioms: AxiomSet) -> None:
        """``first_atoms``: the atoms a patient can state (their bits come first and are the only ones kept)."""
        self.axioms = axioms
        self.clauses: list[tuple[list[int], Axiom]] = []  # the axioms' own clauses, over every atom
        atoms: dict[Atom, int] = {}
        for atom in first_atoms:
            atoms.setdefault(atom, len(atoms))
        self.kept = len(atoms)
        for atom in sorted({a for ax in axioms.axioms for c in ax.clauses for a, _ in c} - set(atoms), key=_atom_key):
            atoms[atom] = len(atoms)
        self.atoms = list(atoms)
        self.index = atoms
        for ax in axioms.axioms:
            for clause in ax.clauses:
                self._add_clause(clause, ax)
        for clause, ax in self._existential_clauses():  # fillers' subsumptions relate existential restrictions
            self._add_clause(clause, ax)
        self._compile(_eliminate([lits for lits, _ in self.clauses], self.kept))

    # ------------------------------------------------------------------ compiling
    def _add_clause(self, clause: Clause, axiom: Axiom) -> None:
        lits = sorted({2 * self.index[a] + (0 if sign else 1) for a, sign in clause})
        if not lits:
            raise OntologyError(f"The axiom '{axiom.text}' can never hold: it makes the ontology inconsistent.",
                                entity=axiom.subject or None, fix="Remove or correct the axiom.")
        self.clauses.append((lits, axiom))

    def _compile(self, clauses: list[list[int]]) -> None:
        n = self.kept
        succ: list[list[int]] = [[] for _ in range(2 * n)]
        units: list[int] = []
        long: list[list[int]] = []
        for lits in clauses:
            if len(lits) == 1:
                units.append(lits[0])
            elif len(lits) == 2:
                a, b = lits
                succ[a ^ 1].append(b)  # (a or b): not a implies b, not b implies a
                succ[b ^ 1].append(a)
            else:
                long.append(lits)
        closure = [_bit(lit) for lit in range(2 * n)]
        changed = True
        while changed:  # relax to the fixpoint: each literal's closure is itself plus its successors' closures
            changed = False
            for lit in range(2 * n):
                mask = closure[lit]
                for s in succ[lit]:
                    mask |= closure[s]
                if mask != closure[lit]:
                    closure[lit] = mask
                    changed = True
        self.lit = [_split(m) for m in closure]  # literal -> (P, A)
        # Global truths: unit clauses, and the negation of every literal that is inconsistent on its own.
        base_p = base_a = 0
        pending = list(units)
        while True:
            for u in pending:
                p, a = self.lit[u]
                base_p, base_a = base_p | p, base_a | a
            if base_p & base_a:
                raise OntologyError("The ontology is inconsistent: its axioms contradict each other.",
                                    fix="Run the hermit check (`spakg check`) to see which classes are involved.")
            pending = [lit ^ 1 for lit in range(2 * n)
                       if not _entailed(lit ^ 1, base_p, base_a) and _fails(self.lit[lit], base_p, base_a)]
            if not pending:
                break
        self.base = (base_p, base_a)
        self.components = self._components(long)
        # finish's table: (mask, the base's part of it present, absent, the component's consequences)
        self._finish = [(c.mask, *c.base_key, c.consequences) for c in self.components]
        # each literal's consequences as atom numbers (what it makes true, what it makes false)
        self.lit_atoms = [(tuple(bit_indices(p)), tuple(bit_indices(a))) for p, a in self.lit]
        self.defined = 0  # the atoms definitions tie together: a literal that touches none needs no reasoning by cases
        for c in self.components:
            self.defined |= c.mask

    def _components(self, long: list[list[int]]) -> list[Component]:
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        z_atoms = sorted({lit >> 1 for lits in long for lit in lits})
        z_mask = sum(1 << a for a in z_atoms)
        for lits in long:
            for lit in lits[1:]:
                parent[find(lit >> 1)] = find(lits[0] >> 1)
        for atom in z_atoms:  # atoms related by an implication are not independent
            for lit in (2 * atom, 2 * atom + 1):
                p, a = self.lit[lit]
                for other in bit_indices((p | a) & z_mask):
                    parent[find(other)] = find(atom)
        groups: dict[int, list[int]] = {}
        for atom in z_atoms:
            groups.setdefault(find(atom), []).append(atom)
        components = []
        for members in groups.values():
            if len(members) > MAX_COMPONENT_ATOMS:
                names = ", ".join(self.name(a) for a in members)
                raise OntologyError(f"{len(members)} classes are tied together by definitions ({names}); spakg "
                                    f"reasons exactly over at most {MAX_COMPONENT_ATOMS}.",
                                    fix="Split the definitions, or state some of them as subclass axioms.")
            mask = sum(1 << a for a in members)
            comp = Component(mask, [ls for ls in long if (ls[0] >> 1) in members])
            comp.valid = self._assignments(members, comp.clauses)
            bp, ba = self.base
            comp.base_key = (bp & mask, ba & mask)
            components.append(comp)
        for comp in components:  # what holds whatever the patient says is a global truth
            extra = comp.consequences(comp.base_key)
            if extra is None:
                raise OntologyError("The ontology is inconsistent: its definitions cannot all hold.",
                                    fix="Run the hermit check (`spakg check`) to see which classes are involved.")
            self.base = (self.base[0] | extra[0], self.base[1] | extra[1])
        for comp in components:
            comp.base_key = (self.base[0] & comp.mask, self.base[1] & comp.mask)
        return components

    def _assignments(self, members: list[int], clauses: list[list[int]]) -> list[tuple[int, int, int, int]]:
        bp, ba = self.base
        valid = []
        for choice in range(1 << len(members)):
            lits = [2 * atom + (0 if choice >> i & 1 else 1) for i, atom in enumerate(members)]
            chosen = set(lits)
            if not all(any(lit in chosen for lit in clause) for clause in clauses):
                continue
            cp, ca = bp, ba
            for lit in lits:
                p, a = self.lit[lit]
                cp, ca = cp | p, ca | a
            if cp & ca:
                continue
            mp = sum(1 << (lit >> 1) for lit in lits if not lit & 1)
            ma = sum(1 << (lit >> 1) for lit in lits if lit & 1)
            valid.append((mp, ma, cp, ca))
        return valid

    def _existential_clauses(self) -> list[tuple[Clause, Axiom]]:
        """``p some C`` implies ``q some D`` when p ⊑ q and C ⊑ D; ``p some C`` is false when C is unsatisfiable.
        Subsumption between fillers is decided exactly (a small search over the axioms' clauses), to a fixpoint:
        a filler may itself be defined through existential restrictions."""
        out: list[tuple[Clause, Axiom]] = []
        somes = [a for a in self.atoms if isinstance(a, Some)]
        done: set[tuple] = set()
        changed = True
        while changed:
            changed = False
            clauses = [lits for lits, _ in self.clauses] + [self._lits(c) for c, _ in out]
            for s in somes:
                filler = self.index.get(Named(s.filler))
                if (s,) not in done and filler is not None and not satisfiable(clauses, [2 * filler]):
                    done.add((s,))
                    ax = Axiom(s.filler, f"{local(s.filler)} is unsatisfiable, so '{local(s.prop)} some "
                                         f"{local(s.filler)}' is too", (frozenset({(s, False)}),))
                    out.append((ax.clauses[0], ax))
                    changed = True
                for t in somes:
                    if s == t or (s, t) in done or t.prop not in self._super_properties(s.prop):
                        continue
                    target = self.index.get(Named(t.filler))
                    if t.filler == THING or t.filler == s.filler or (
                            filler is not None and target is not None
                            and not satisfiable(clauses, [2 * filler, 2 * target + 1])):
                        done.add((s, t))
                        ax = Axiom(s.filler, f"{local(s.prop)} some {local(s.filler)} SubClassOf {local(t.prop)} some "
                                             f"{local(t.filler)} (because {local(s.filler)} SubClassOf "
                                             f"{local(t.filler)})", (frozenset({(s, False), (t, True)}),))
                        out.append((ax.clauses[0], ax))
                        changed = True
        return out

    def _lits(self, clause: Clause) -> list[int]:
        return sorted({2 * self.index[a] + (0 if sign else 1) for a, sign in clause})

    def _super_properties(self, prop: str) -> set[str]:
        seen, stack = {prop}, [prop]
        while stack:
            for parent in self.axioms.sub_properties.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    # ------------------------------------------------------------------ using
    def finish(self, p: int, a: int) -> tuple[int, int]:
        """Given the union of the stated literals' closures, the exact closure; raises Inconsistent."""
        bp, ba = self.base
        p |= bp
        a |= ba
        if p & a:
            raise Inconsistent
        return _by_cases(p, a, self._finish)

    def extend(self, p: int, a: int, lp: int, la: int) -> tuple[int, int]:
        """``finish`` for closed facts (p, a) and one more literal's consequences (lp, la): only the components the
        literal touches can change (the others' consequences are in p and a already). Raises Inconsistent."""
        p |= lp
        a |= la
        if p & a:
            raise Inconsistent
        touched = lp | la
        return _by_cases(p, a, [c for c in self._finish if c[0] & touched])

    def close(self, literals: list[int]) -> tuple[int, int]:
        p = a = 0
        for lit in literals:
            lp, la = self.lit[lit]
            p |= lp
            a |= la
        return self.finish(p, a)

    def consistent(self, literals: list[int]) -> bool:
        try:
            self.close(literals)
        except Inconsistent:
            return False
        return True

    def name(self, atom: int) -> str:
        a = self.atoms[atom]
        return local(a.iri) if isinstance(a, Named) else f"{local(a.prop)} some {local(a.filler)}"

    def literal_name(self, lit: int) -> str:
        return ("not " if lit & 1 else "") + self.name(lit >> 1)


def _by_cases(p: int, a: int, components: list[tuple]) -> tuple[int, int]:
    """What the components' definitions add to (p, a), each from its own part of the facts; raises Inconsistent."""
    for m, base_p, base_a, consequences in components:
        kp, ka = p & m, a & m
        if kp == base_p and ka == base_a:
            continue
        extra = consequences((kp, ka))
        if extra is None:
            raise Inconsistent
        p |= extra[0]
        a |= extra[1]
    return p, a


def _eliminate(clauses: list[list[int]], kept: int) -> list[list[int]]:
    """Davis-Putnam: resolve away every atom with index >= ``kept``; what is left says exactly what the clauses say
    about the kept atoms. Cheapest atom first (a pure one costs nothing); subsumed clauses are dropped."""
    current = _minimal({frozenset(c) for c in clauses})
    hidden = {lit >> 1 for c in current for lit in c if lit >> 1 >= kept}
    while hidden:
        count: dict[int, int] = {}
        for c in current:
            for lit in c:
                count[lit] = count.get(lit, 0) + 1
        atom = min(hidden, key=partial(_elimination_cost, count))
        hidden.discard(atom)
        pos = [c for c in current if 2 * atom in c]
        neg = [c for c in current if 2 * atom + 1 in c]
        current.difference_update(pos)
        current.difference_update(neg)
        for c in pos:
            for d in neg:
                r = (c - {2 * atom}) | (d - {2 * atom + 1})
                if any(lit ^ 1 in r for lit in r) or any(e <= r for e in current):
                    continue
                if not r:
                    raise OntologyError("The ontology is inconsistent: its axioms contradict each other.",
                                        fix="Run the hermit check (`spakg check`) to see which classes are involved.")
                current = {e for e in current if not r <= e}
                current.add(r)
    return [sorted(c) for c in current]


def _elimination_cost(count: dict[int, int], atom: int) -> tuple[int, int]:
    """How many clauses resolving the atom away adds (fewest first; a pure atom removes clauses)."""
    pos, neg = count.get(2 * atom, 0), count.get(2 * atom + 1, 0)
    return (pos * neg - pos - neg, atom)


def _minimal(clauses: set[frozenset[int]]) -> set[frozenset[int]]:
    """Drop every clause that a shorter one subsumes."""
    out: list[frozenset[int]] = []
    for c in sorted(clauses, key=len):
        if not any(d <= c for d in out):
            out.append(c)
    return set(out)


def _atom_key(atom: Atom) -> tuple:
    return (0, atom.iri, "") if isinstance(atom, Named) else (1, atom.prop, atom.filler)


def _bit(lit: int) -> int:
    return 1 << lit


def _split(mask: int) -> tuple[int, int]:
    """A mask over literals (bit 2i: atom i true, bit 2i+1: atom i false) as (true atoms, false atoms)."""
    p = a = 0
    i = 0
    while mask:
        if mask & 1:
            p |= 1 << i
        if mask & 2:
            a |= 1 << i
        mask >>= 2
        i += 1
    return p, a


def bit_indices(mask: int):
    """The positions of a mask's set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _entailed(lit: int, p: int, a: int) -> bool:
    return bool((a if lit & 1 else p) >> (lit >> 1) & 1)


def _fails(closure: tuple[int, int], bp: int, ba: int) -> bool:
    p, a = closure
    return bool((p | bp) & (a | ba))
