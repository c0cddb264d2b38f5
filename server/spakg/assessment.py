"""An assessment: every rule's outcome for one patient, with proofs, summaries and the next questions to ask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .concepts import Concept
from .facts import PatientFacts
from .knowledge import Knowledge
from .logic import Inconsistent
from .rules import MET, NOT_MET, UNDETERMINED, Comparison, FindingItem, Proof, QuantityItem, Rule, Step

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


class Assessment:
    def __init__(self, knowledge: Knowledge, facts: PatientFacts) -> None:
        self.knowledge = knowledge
        self.facts = facts
        self.statuses: tuple[int, ...] = knowledge.rules.decide(facts)

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
    def fact_use(self, item: FindingItem) -> FactUse:
        facts = self.facts
        stated = self.knowledge.facts.stated_by(facts, item.index)
        return FactUse(item.concept, facts.status_of(item.bit), tuple((f.concept, f.present) for f in stated))  # type: ignore[arg-type]

    def quantity_values(self, item: FindingItem | QuantityItem) -> dict[str, tuple[float, float]]:
        """The value (low, high) of each quantity the item compares, where known or bounded."""
        values = self.facts.quantities
        return {c.quantity: values[c.slot] for c in item.comparisons if c.slot in values}

    def summary(self, step: Step) -> str:
        return summarise(step)

    # ------------------------------------------------------------------ next questions
    @cached_property
    def next_questions(self) -> list[Question]:
        """Unknown findings (or missing numbers) whose answer could decide an undetermined rule.

        Each candidate is tried as present and as absent (a number at each threshold the rules use, and either side
        of it), by adding its consequences to the patient's closed facts and deciding again; it settles a rule if
        some answer turns that rule MET or NOT_MET. Best first: most rules settled.
        """
        rules = self.knowledge.rules
        undetermined = [i for i, status in enumerate(self.statuses) if status == UNDETERMINED]
        if not undetermined:
            return []
        order = rules.order
        facts, space = self.facts, self.knowledge.facts
        closure, decide = space.closure, rules.compiled.outcomes
        present, absent, values = facts.present, facts.absent, facts.quantities
        candidates: dict[tuple[int | None, str | None], list] = {}
        for i in undetermined:
            rule = order[i]
            for item in rule.finding_items():
                state = facts.status_of(item.bit)
                if state is None:
                    candidates.setdefault((item.index, None), [])
                elif state is True:
                    for c in item.comparisons:
                        if c.slot not in values:
                            candidates.setdefault((item.index, c.quantity), []).extend(self._around(c))
            for q_item in rule.quantity_items():
                for c in q_item.comparisons:
                    known = values.get(c.slot)
                    if known is None or known[0] != known[1]:
                        candidates.setdefault((None, c.quantity), []).extend(self._around(c))
        questions: list[Question] = []
        for (index, quantity), answers in candidates.items():
            settled: set[int] = set()
            if quantity is None:  # a finding's presence
                for lit in (2 * index, 2 * index + 1):  # type: ignore[operator]
                    lp, la = closure.lit[lit]
                    try:
                        p, a = closure.finish(present | lp, absent | la)
                    except Inconsistent:  # an answer that contradicts the facts is not a possible answer
                        continue
                    outcome = decide(p, a, values)
                    settled.update(i for i in undetermined if outcome[i] != UNDETERMINED)
            else:
                for slots, value in answers:
                    trial = dict(values)
                    for slot in slots:
                        trial[slot] = (value, value)
                    outcome = decide(present, absent, trial)
                    settled.update(i for i in undetermined if outcome[i] != UNDETERMINED)
            if settled:
                concept = space.observable[index] if index is not None else None
                questions.append(Question(concept, quantity, tuple(sorted((order[i] for i in settled), key=lambda r: r.id))))
        questions.sort(key=lambda q: (-len(q.settles), q.concept.id if q.concept else "", q.quantity or ""))
        return questions

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
    rule: Rule = step.item  # type: ignore[assignment]
    concept = rule.concludes.label if rule.concludes else rule.label
    head = f"{concept[0].upper()}{concept[1:]} by {rule.short_label}: {_STATUS_WORDS[step.status]}"
    failed_entry = [r for r in step.requires if r.status != MET]
    if failed_entry and step.status != MET:
        what = "; ".join(f"{r.item.label} ({_STATUS_WORDS[r.status]})" for r in failed_entry)
        return f"{head} — entry condition {what}."
    n = len(rule.items)
    needed = rule.needed
    counted = f"{step.met:g} of {rule.total_weight:g}" if any(i.weight != 1 for i in rule.items) else f"{step.met:g} of {n}"
    met_labels = [c.item.label for c in step.children if c.status == MET]
    unknown = [c.item.label for c in step.children if c.status == UNDETERMINED]
    text = f"{head} — {counted} {'item' if n == 1 else 'items'} met (needs {needed:g})"
    if met_labels:
        text += ": " + ", ".join(met_labels)
    if step.status == UNDETERMINED and unknown:
        text += "; still unknown: " + ", ".join(unknown)
    return text + "."
