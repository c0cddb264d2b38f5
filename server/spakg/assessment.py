"""An assessment: every rule's outcome for one patient, with proofs, summaries and the next questions to ask."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING

import orjson

from .concepts import Concept
from .facts import PatientFacts
from .formulas import Formula, Term
from .knowledge import Knowledge
from .logic import Inconsistent, bit_indices
from .rules import MET, NOT_MET, UNDETERMINED, Comparison, FindingItem, Proof, QuantityItem, Rule, Step
from .scores import ScoreValue

if TYPE_CHECKING:
    from .fhir.reader import FhirReading

CLASSIFICATION_NOTE = (
    "Classification criteria are not a diagnosis. HLA-B27 alone decides nothing; normal blood tests or a negative "
    "HLA-B27 never rule inflammatory disease out; a finding not reported is unknown, never absent."
)


@dataclass(frozen=True)
class FactUse:
    """How a finding's state was known: stated directly, or implied by stated findings."""

    concept: Concept
    present: bool | None
    stated_by: tuple[tuple[Concept, bool], ...]  # the stated findings that imply this state

    @property
    def direct(self) -> bool:
        return any(c is self.concept for c, _ in self.stated_by)


@dataclass(frozen=True)
class Question:
    concept: Concept | None        # a finding to ask about (None for a measurement of the patient)
    quantity: str | None           # a missing number: on the finding, or (concept None) about the patient
    settles: tuple[Rule, ...]


_NO_ANSWERS: tuple = ()  # a finding's answers are present and absent: it lists none


class Assessment:
    def __init__(self, knowledge: Knowledge, facts: PatientFacts, origin: FhirReading | None = None) -> None:
        self.knowledge = knowledge
        self.facts = facts
        self.origin = origin  # the FHIR resources the facts came from, when they came from a Bundle

    @cached_property
    def statuses(self) -> tuple[int, ...]:
        """Every rule's status, in the rule book's order: read from the proof when it has been worked out (it holds
        them), else decided alone (several times cheaper than the proof)."""
        proof = self.__dict__.get("proof")
        if proof is not None:
            return proof.rule_statuses(self.knowledge.rules.order)
        return self.knowledge.rules.decide(self.facts)

    @cached_property
    def scores(self) -> list[ScoreValue]:
        """Each disease-activity score: its interval, term by term, and its categories' statuses."""
        return self.knowledge.scores.evaluate(self.facts, self.statuses)

    @cached_property
    def proof(self) -> Proof:
        return self.knowledge.rules.prove(self.facts)

    @cached_property
    def steps(self) -> list[Step]:
        """One proof step per rule (built on first use from the proof vector)."""
        proof = self.proof
        return [proof.step(rule) for rule in self.knowledge.rules.order]

    @property
    def patient_id(self) -> str | None:
        return self.facts.patient_id

    def inferences(self, status: int | None = None) -> list[Step]:
        return [s for s in self.steps if status is None or s.status == status]

    # ------------------------------------------------------------------ explaining
    @cached_property
    def stated_index(self):
        return self.knowledge.facts.stated_index(self.facts)

    def fact_use(self, item: FindingItem) -> FactUse:
        facts = self.facts
        stated = self.knowledge.facts.stated_by(facts, item.index, self.stated_index)
        return FactUse(item.concept, facts.status_of(item.bit), tuple((f.concept, f.present) for f in stated))  # type: ignore[arg-type]

    def quantity_values(self, item: FindingItem | QuantityItem) -> dict[str, tuple[float, float]]:
        """The value (low, high) of each quantity the item compares, where known or bounded."""
        values = self.facts.quantities
        return {c.quantity: values[c.slot] for c in item.comparisons if c.slot in values}

    def summary(self, step: Step) -> str:
        return summary_from(step.item, self.proof)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ next questions
    @cached_property
    def next_questions(self) -> list[Question]:
        """Unknown findings (or missing numbers) whose answer could decide an undetermined rule.

        Each candidate is tried as present and as absent (a number at each threshold the rules use, and either side
        of it): its consequences are added to the patient's closed facts and only the rules that read something it
        changed are decided again. It settles a rule if some answer turns that rule MET or NOT_MET. A score's inputs
        are asked for only once the patient began that score (gave one of its measurements).
        """
        rules = self.knowledge.rules
        self.proof  # noqa: B018 - the walk below reads it; worked out first, it gives the statuses too
        undetermined = [i for i, status in enumerate(self.statuses) if status == UNDETERMINED]
        if not undetermined:
            return []
        order = rules.order
        space = self.knowledge.facts
        candidates = self._candidates(undetermined)
        settles = self._settle_all(candidates, undetermined)
        settled: dict[int, tuple[Rule, ...]] = {}  # many questions settle the same rules
        for mask in settles.values():
            if mask and mask not in settled:
                settled[mask] = tuple(sorted((order[i] for i in bit_indices(mask)), key=lambda r: r.id))
        questions = [Question(space.observable[index] if index is not None else None, quantity, settled[mask])
                     for (index, quantity), mask in settles.items() if mask]
        effort = self.knowledge.effort
        # Best first: most rules settled, cheapest to learn, then the broader question (psoriasis before current
        # psoriasis: its answer says at least as much for the same effort).
        questions.sort(key=lambda q: (-len(q.settles), effort.rank(q.concept),
                                      len(q.concept.ancestors) if q.concept else 0, q.concept.id if q.concept else "",
                                      q.quantity or ""))
        return questions

    def _candidates(self, undetermined_positions: list[int]) -> dict[tuple[int | None, str | None], Sequence]:
        """The questions worth trying: the unknown findings the undetermined rules name (and numbers they miss).

        An answer can only settle a rule through an undetermined item: a settled item whose status more facts
        cannot change (``monotone``) blocks the way below it. So the classes read by items reachable through
        undetermined ones are collected first (the live classes); a finding is tried only if an answer about it could
        change a live class (through the hierarchy too: anterior uveitis makes uveitis present)."""
        facts = self.facts
        space = self.knowledge.facts
        statuses = self.proof._statuses
        undetermined = [self.knowledge.rules.order[i] for i in undetermined_positions]
        live = 0
        numbers: dict[tuple[int | None, str | None], list] = {}
        walks = self.knowledge.rules.compiled.walks
        seen: set[int] = set()
        stack: list[int] = [rule.slot for rule in undetermined]
        while stack:
            slot = stack.pop()
            if slot in seen:
                continue
            seen.add(slot)
            monotone, bits, with_numbers, below = walks[slot]
            if monotone and statuses[slot] != UNDETERMINED:
                continue
            live |= bits
            for n in with_numbers:
                if statuses[n.slot] != UNDETERMINED and n.monotone:
                    continue
                if isinstance(n, FindingItem):
                    if facts.present & n.bit:
                        for c in n.comparisons:  # unknown, or known only within bounds (an onset from the age)
                            known = facts.quantities.get(c.slot)
                            if known is None or known[0] != known[1]:
                                numbers.setdefault((n.index, c.quantity), []).extend(self._around(c))
                else:
                    for c in n.comparisons:
                        known = facts.quantities.get(c.slot)
                        if known is None or known[0] != known[1]:
                            formula = space.score_formulas.get(c.slot)
                            if formula is None:
                                numbers.setdefault((None, c.quantity), []).extend(self._around(c))
                            elif self._started(c.quantity):
                                for term in formula.terms:
                                    if term.slot not in facts.quantities:
                                        numbers.setdefault((None, term.quantity.name), []).extend(
                                            self._score_answers(formula, term, c))
            stack.extend(below)
        influence = self.knowledge.facts.influence
        named_by = self.knowledge.rules.compiled.named
        named = 0
        for position in undetermined_positions:
            named |= named_by[position]
        candidates: dict[tuple[int | None, str | None], Sequence] = {}
        unknown = named & ~(facts.present | facts.absent)
        while unknown:
            low = unknown & -unknown
            i = low.bit_length() - 1
            if influence[i] & live:
                candidates[(i, None)] = _NO_ANSWERS
            unknown ^= low
        candidates.update(numbers)
        return candidates

    def _settle_all(self, candidates: dict[tuple[int | None, str | None], Sequence], undetermined: list[int]
                    ) -> dict[tuple[int | None, str | None], int]:
        """For each candidate, the undetermined rules (as bits over positions) that some answer decides.

        Only rules that read something the answer changed are decided again (what a rule reads includes what the
        rules it depends on read), and among those only the ones whose own items read a change or whose input rule
        moved. An answer that could only reach rules an earlier answer already settled is not tried."""
        compiled = self.knowledge.rules.compiled
        out: dict[tuple[int | None, str | None], int] = {}
        if compiled.lanes is not None:  # every finding's two answers decided at once; numbers one by one below
            presence = [key for key in candidates if key[1] is None]
            out.update(self._settle_by_lanes(presence, undetermined))
            candidates = {key: answers for key, answers in candidates.items() if key[1] is not None}
            if not candidates:
                return out
        closure = self.knowledge.facts.closure
        reads_atoms, reads_slots, per_rule = compiled.reads_atoms, compiled.reads_slots, compiled.per_rule
        own_atoms, own_slots, depends_mask = compiled.own_atoms, compiled.own_slots, compiled.depends_mask
        facts = self.facts
        space = self.knowledge.facts
        present, absent, values = facts.present, facts.absent, facts.quantities
        stated = space.stated_slots(facts)
        base = self.statuses
        und_mask = sum(1 << i for i in undetermined)
        # A settled rule whose every item is monotone stays settled whatever the answer: never decided again.
        relevant = [i for i in self._relevant if und_mask >> i & 1 or not self.knowledge.rules.order[i].monotone]
        bit_of = [1 << i for i in range(len(base))]
        influence = self.knowledge.facts.influence
        defined = closure.defined
        for key, answers in candidates.items():
            index, quantity = key
            settled = 0
            if quantity is None:  # a finding's presence: present, or absent
                reach = influence[index]  # type: ignore[index]
                touched = [i for i in relevant if reads_atoms[i] & reach]
                trials = []
                for lit in (2 * index, 2 * index + 1):  # type: ignore[operator]
                    lp, la = closure.lit[lit]
                    p, a = present | lp, absent | la
                    if p & a:  # an answer that contradicts the facts is not a possible answer
                        continue
                    if (lp | la) & defined:  # it touches a definition: what follows by cases
                        try:
                            p, a = closure.finish(p, a)
                        except Inconsistent:
                            continue
                    trials.append((p, a, values, (p ^ present) | (a ^ absent), frozenset()))
            else:
                trials = []
                for slots, value in dict.fromkeys(answers):  # criteria share cut-offs: each answer once
                    trial_values = dict(values)
                    for slot in slots:
                        trial_values[slot] = (value, value)
                    derived = space.rederive(trial_values, stated | set(slots), set(slots))
                    if derived is None:  # an answer the other facts rule out
                        continue
                    trials.append((present, absent, trial_values, 0, frozenset(slots) | derived))
                touched = relevant
            for p, a, trial_values, changed_atoms, changed_slots in trials:
                plan = []
                reachable = 0
                for i in touched:
                    if reads_atoms[i] & changed_atoms or not reads_slots[i].isdisjoint(changed_slots):
                        plan.append(i)
                        reachable |= bit_of[i]
                if not reachable & und_mask & ~settled:
                    continue
                statuses = list(base)
                moved = 0
                for i in plan:
                    if own_atoms[i] & changed_atoms or not own_slots[i].isdisjoint(changed_slots) or \
                            depends_mask[i] & moved:
                        status = per_rule[i](p, a, trial_values, statuses)
                        if status != statuses[i]:
                            statuses[i] = status
                            moved |= 1 << i
                settled |= moved & und_mask
            out[key] = settled
        return out

    def _settle_by_lanes(self, keys: list[tuple[int | None, str | None]], undetermined: list[int]
                         ) -> dict[tuple[int | None, str | None], int]:
        """``_settle_all`` for findings' presence, every answer in one pass of the compiled ``lanes`` function: each
        possible answer (present, absent) is a lane, and a rule settles a candidate when it is decided in one of the
        candidate's lanes. An answer that contradicts the facts gets no lane."""
        closure = self.knowledge.facts.closure
        facts = self.facts
        present, absent = facts.present, facts.absent
        lit, lit_atoms, defined = closure.lit, closure.lit_atoms, closure.defined
        fact_lanes_p = [0] * closure.kept
        fact_lanes_a = [0] * closure.kept
        owner: list[tuple[int | None, str | None]] = []
        for key in keys:
            index: int = key[0]  # type: ignore[assignment]
            for literal in (2 * index, 2 * index + 1):
                lp, la = lit[literal]
                if (present | lp) & (absent | la):
                    continue
                atoms_p, atoms_a = lit_atoms[literal]
                if (lp | la) & defined:  # it touches a definition: what follows by cases
                    try:
                        p, a = closure.extend(present, absent, lp, la)
                    except Inconsistent:
                        continue
                    more_p, more_a = p & ~(present | lp), a & ~(absent | la)
                    if more_p or more_a:
                        atoms_p, atoms_a = (*atoms_p, *bit_indices(more_p)), (*atoms_a, *bit_indices(more_a))
                lane = 1 << len(owner)
                owner.append(key)
                for b in atoms_p:  # the patient's own facts are set in every lane below, so they may be set here too
                    fact_lanes_p[b] |= lane
                for b in atoms_a:
                    fact_lanes_a[b] |= lane
        out = dict.fromkeys(keys, 0)
        if not owner:
            return out
        every = (1 << len(owner)) - 1
        for b in bit_indices(present):
            fact_lanes_p[b] = every
        for b in bit_indices(absent):
            fact_lanes_a[b] = every
        decided = self.knowledge.rules.compiled.lanes(fact_lanes_p, fact_lanes_a, facts.quantities, every)  # type: ignore[misc]
        for r in undetermined:
            for lane in bit_indices(decided[2 * r] | decided[2 * r + 1]):
                out[owner[lane]] |= 1 << r
        return out

    @cached_property
    def _relevant(self) -> list[int]:
        """Positions (in dependency order) of the undetermined rules and of every rule they depend on."""
        depends = self.knowledge.rules.compiled.depends
        wanted = {i for i, status in enumerate(self.statuses) if status == UNDETERMINED}
        stack = list(wanted)
        while stack:
            for d in depends[stack.pop()]:
                if d not in wanted:
                    wanted.add(d)
                    stack.append(d)
        return sorted(wanted)

    def _started(self, score: str) -> bool:
        """Whether the patient began this score: a score nobody began is not asked about (a patient assessed for back
        pain is not sent through the BASDAI questionnaire by the next questions)."""
        if not self.facts.measurements:  # most patients: nothing measured, nothing begun
            return False
        book = self.knowledge.scores
        return book.started(book.by_id[score], self.facts)

    def _score_answers(self, formula: Formula, term: Term, c: Comparison) -> list[tuple[tuple[int, ...], float]]:
        """Answers for one unknown input of a score that could move the score across the comparison's cut-off: the
        input at which the score's least or greatest value meets the cut-off (and just either side), and the ends of
        the input's range. Every term is monotone, so these include an answer that settles the comparison whenever
        one exists."""
        values = self.facts.quantities
        q = term.quantity
        rest_lo = rest_hi = formula.constant
        for other in formula.terms:
            if other is not term:
                a, b = other.interval(values)
                rest_lo, rest_hi = rest_lo + a, rest_hi + b
        found = {q.minimum, q.maximum}
        for rest in (rest_lo, rest_hi):
            x = term.input_for(c.value - rest)
            if math.isfinite(x):
                found.update((x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)))
        return [((term.slot,), v) for v in sorted(found) if q.minimum <= v <= q.maximum]

    def _around(self, c: Comparison) -> list[tuple[tuple[int, ...], float]]:
        """Values either side of a comparison's threshold, within the quantity's range, with the slots they fill
        (a finding's number is carried up to the classes above it that the quantity applies to)."""
        space = self.knowledge.facts
        q = space.quantities[c.quantity]
        slots: tuple[int, ...] = (c.slot,)
        if not q.patient_level:
            index = c.slot // space.quantities.count
            concept = space.observable[index]
            slots = (c.slot, *space._carried(concept, index, c.quantity))
        return [(slots, v) for v in (c.value - 1, c.value, c.value + 1) if q.minimum <= v <= q.maximum]


# ---------------------------------------------------------------------- one-sentence summaries
_STATUS_WORDS = {MET: "met", NOT_MET: "not met", UNDETERMINED: "undetermined"}


def summarise(step: Step) -> str:
    return summary_from(step.item, step._proof) if step._proof is not None else _summary(  # type: ignore[arg-type]
        step.item, step.status, step.met, [(r.item, r.status) for r in step.requires],  # type: ignore[arg-type]
        [(c.item, c.status) for c in step.children])


_SUMMARIES: dict[tuple, tuple[str, bytes]] = {}  # by (rule, its status, met, its items' statuses): cohorts repeat them a lot


def summary_from(rule: Rule, proof: Proof) -> str:
    """The one-sentence summary of a rule's outcome, read straight from the proof vector."""
    return summary_entry(rule, proof)[0]


def summary_entry(rule: Rule, proof: Proof) -> tuple[str, bytes]:
    """``summary_from``, and the same as a JSON string (what proof JSON writes)."""
    statuses = proof._statuses
    met = proof._counts[2 * rule.counts]
    read = rule.__dict__.get("_summary_reads")
    if read is None:  # the rule's status and its entry conditions' and items': what the sentence is made of
        read = rule.__dict__["_summary_reads"] = itemgetter(rule.slot, *(r.slot for r in rule.requires),
                                                            *(c.slot for c in rule.items))
    key = (rule, met, read(statuses))
    found = _SUMMARIES.get(key)
    if found is None:
        text = _summary(rule, statuses[rule.slot], met, [(r, statuses[r.slot]) for r in rule.requires],
                        [(c, statuses[c.slot]) for c in rule.items])
        found = (text, orjson.dumps(text))
        if len(_SUMMARIES) > 50_000:  # bounded; rules of a reloaded ontology age out with the rest
            _SUMMARIES.clear()
        _SUMMARIES[key] = found
    return found


def _summary(rule: Rule, status: int, met: float, requires: list, children: list) -> str:
    concept = rule.concludes.label if rule.concludes else rule.label
    head = f"{concept[0].upper()}{concept[1:]} by {rule.short_label}: {_STATUS_WORDS[status]}"
    failed_entry = [(item, s) for item, s in requires if s != MET]
    if failed_entry and status != MET:
        what = "; ".join(f"{item.label} ({_STATUS_WORDS[s]})" for item, s in failed_entry)
        return f"{head} — entry condition {what}."
    n = len(rule.items)
    counted = f"{met:g} of {rule.total_weight:g}" if any(i.weight != 1 for i in rule.items) else f"{met:g} of {n}"
    text = f"{head} — {counted} {'item' if n == 1 else 'items'} met (needs {rule.needed:g})"
    met_labels = [item.label for item, s in children if s == MET]
    if met_labels:
        text += ": " + ", ".join(met_labels)
    unknown = [item.label for item, s in children if s == UNDETERMINED]
    if status == UNDETERMINED and unknown:
        text += "; still unknown: " + ", ".join(unknown)
    return text + "."
