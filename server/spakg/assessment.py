"""An assessment: every rule's outcome for one patient, with proofs, summaries and the next questions to ask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .concepts import Concept
from .facts import PatientFacts
from .knowledge import Knowledge
from .rules import MET, NOT_MET, UNDETERMINED, FindingItem, Rule, Step

CLASSIFICATION_NOTE = (
    "Classification criteria are not a diagnosis. HLA-B27 alone decides nothing; normal blood tests or a negative "
    "HLA-B27 never rule inflammatory disease out; a finding not reported is unknown, never absent."
)


@dataclass(frozen=True)
class FactUse:
    """How a finding's state was known: stated directly, or implied by a stated finding."""

    concept: Concept
    present: bool | None
    stated_by: tuple[tuple[Concept, bool], ...]  # the stated findings that imply this state

    @property
    def direct(self) -> bool:
        return any(c is self.concept for c, _ in self.stated_by)


@dataclass(frozen=True)
class Question:
    concept: Concept
    quantity: str | None
    settles: tuple[Rule, ...]


class Assessment:
    def __init__(self, knowledge: Knowledge, facts: PatientFacts) -> None:
        self.knowledge = knowledge
        self.facts = facts
        self.evaluation, self.statuses = knowledge.rules.decide(facts)

    @cached_property
    def steps(self) -> list[Step]:
        """One proof step per rule (built on first use from the statuses already decided)."""
        return [rule.evaluate(self.evaluation) for rule in self.knowledge.rules.order]

    @property
    def patient_id(self) -> str | None:
        return self.facts.patient_id

    def inferences(self, status: int | None = None) -> list[Step]:
        return [s for s in self.steps if status is None or s.status == status]

    # ------------------------------------------------------------------ explaining
    def fact_use(self, item: FindingItem) -> FactUse:
        space, facts = self.knowledge.facts, self.facts
        state = facts.status_of(item.bit)
        stated: list[tuple[Concept, bool]] = []
        for concept, finding in facts.findings:
            if state is True and finding.present and space.up[concept.id] & item.bit:
                stated.append((concept, True))
            elif state is False and (
                (not finding.present and space.down[concept.id] & item.bit)
                or (finding.present and space.excluded[concept.id] & item.bit)
            ):
                stated.append((concept, finding.present))
        return FactUse(item.concept, state, tuple(stated))  # type: ignore[arg-type]

    def quantity_values(self, item: FindingItem) -> dict[str, float]:
        values = self.facts.quantities.get(item.index, {})
        return {q: values[q] for q, _, _ in item.comparisons if q in values}

    def summary(self, step: Step) -> str:
        return summarise(step)

    # ------------------------------------------------------------------ next questions
    @cached_property
    def next_questions(self) -> list[Question]:
        """Unknown findings (or missing quantities) whose answer could decide an undetermined rule.

        Each candidate is tried as present and as absent (a quantity at each threshold the rules use, and either
        side of it); it settles a rule if some answer turns that rule MET or NOT_MET. Best first: most rules settled.
        """
        order = self.knowledge.rules.order
        undetermined = [rule for rule, status in zip(order, self.statuses, strict=True) if status == UNDETERMINED]
        if not undetermined:
            return []
        space = self.knowledge.facts
        stated = [(c.id, f) for c, f in self.facts.findings]
        candidates: dict[tuple[str, str | None], list[dict]] = {}
        for rule in undetermined:
            for item in rule.finding_items():
                state = self.facts.status_of(item.bit)
                cid = item.concept.id  # type: ignore[union-attr]
                if state is None and (cid, None) not in candidates:
                    candidates[(cid, None)] = [{"concept": cid, "present": True}, {"concept": cid, "present": False}]
                elif state is True:
                    for quantity, _, threshold in item.comparisons:
                        if quantity not in self.facts.quantities.get(item.index, {}):
                            values = candidates.setdefault((cid, quantity), [])
                            values.extend({"concept": cid, quantity: v} for v in _around(threshold, space, quantity))
        questions: list[Question] = []
        rules = self.knowledge.rules
        for (cid, quantity), answers in candidates.items():
            settled: list[Rule] = []
            for answer in answers:
                try:
                    trial = space.patient([*_merge(stated, answer)], self.facts.patient_id)
                except Exception:  # an answer that contradicts the facts is not a possible answer
                    continue
                outcome = dict(zip((r.id for r in order), rules.decide(trial)[1], strict=True))
                settled.extend(r for r in undetermined if outcome[r.id] != UNDETERMINED and r not in settled)
            if settled:
                concept = self.knowledge.concepts.get(cid)
                questions.append(Question(concept, quantity, tuple(sorted(settled, key=lambda r: r.id))))  # type: ignore[arg-type]
        questions.sort(key=lambda q: (-len(q.settles), q.concept.id, q.quantity or ""))
        return questions


def _around(threshold: float, space, quantity: str) -> list[float]:
    q = space.quantities[quantity]
    return [v for v in (threshold - 1, threshold, threshold + 1) if q.minimum <= v <= q.maximum]


def _merge(stated: list, answer: dict) -> list[dict]:
    """The stated findings plus one answer; a quantity answer rides on the stated finding of that concept."""
    out: list[dict] = []
    merged = False
    for cid, f in stated:
        entry = {"concept": cid, "present": f.present, **f.quantities}
        if "present" not in answer and cid == answer["concept"] and f.present:
            entry.update({k: v for k, v in answer.items() if k != "concept"})
            merged = True
        out.append(entry)
    if not merged:
        out.append(answer if "present" in answer else {"present": True, **answer})
    return out


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
