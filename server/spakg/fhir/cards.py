"""CDS Hooks 2.0 cards from an assessment: one per referral rule that applies.

- a referral rule MET: a ``warning`` card — its proof summary, the sentence it rests on, the facts from the EHR that
  decided it (by resource), and the article's disclaimer;
- a referral rule UNDETERMINED, only where the record itself makes referral plausible (no alert on every chart):
  the record states present the finding each of the rule's entry conditions is about (back pain, for both referral
  rules: a chart that says nothing of back pain gets no card, whatever else it holds), or, for a rule without entry
  conditions, some finding the rule reads. Then an ``info`` card names the next questions that could settle it, with
  a suggestion to order the investigation where one would (an HLA-B27 test, an MRI of the sacroiliac joints: any
  investigation the ontology ranks above examining the patient), coded as an EHR orders it (LOINC, SNOMED CT: the
  ontology's fx:OrderCode) beside spakg's own code;
- NOT_MET: no card. Every card links to the explorer's /assess permalink for this patient and the rule's page.
Which rules are referral rules, their words and their sources are the ontology's (rule:ReferralAdvice).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from ..assessment import CLASSIFICATION_NOTE, Assessment, summary_from
from ..rules import MET, UNDETERMINED, FindingItem, Rule
from ..web.patient_query import query_from_patient
from .override_reasons import override_reasons

SUMMARY_MAX = 139  # CDS Hooks: "<140-character summary"
REFERRAL = "ReferralAdvice"
LISTED = 8  # questions named in a card's detail; the permalink shows them all
EXAMINATION_RANK = 2  # effort ranks above this are orders (a blood test, imaging), not questions or an examination


def cards_for(a: Assessment, base_url: str) -> list[dict]:
    base = base_url.rstrip("/")
    permalink = f"{base}/assess?{query_from_patient(_permalink_record(a))}"
    cards = []
    questions = None
    for rule, status in zip(a.knowledge.rules.order, a.statuses, strict=True):
        if rule.rule_type != REFERRAL or status not in (MET, UNDETERMINED):
            continue
        if status == MET:
            cards.append(_referral_card(a, rule, base, permalink))
        else:
            if questions is None:
                questions = a.next_questions
            card = _undetermined_card(a, rule, [q for q in questions if rule in q.settles], base, permalink)
            if card is not None:
                cards.append(card)
    return cards


def _referral_card(a: Assessment, rule: Rule, base: str, permalink: str) -> dict:
    summary = summary_from(rule, a.proof)
    lines = [f"**{_title(rule)}: met.** {summary}", ""]
    facts = _facts_used(a, rule)
    if facts:
        lines += ["The facts it read, from the record: " + "; ".join(facts) + ".", ""]
    lines += _sources(rule)
    lines += ["", f"*{CLASSIFICATION_NOTE}*", "", f"> {a.knowledge.disclaimer}"]
    advice = rule.concludes.label if rule.concludes else "referral"  # the class the rule concludes: the ontology's
    return _card(f"{_title(rule)}: met — consider {advice}.", "warning", rule, base, permalink,
                 "\n".join(lines))


def _undetermined_card(a: Assessment, rule: Rule, questions: list, base: str, permalink: str) -> dict | None:
    if not questions or not plausible(a, a.proof.step(rule)):
        return None  # a record that does not make referral plausible gets no card: no alert on every chart
    effort = a.knowledge.effort
    asked, orders = [], []
    for q in questions:
        what = q.concept.label if q.concept is not None else q.quantity
        how = effort.investigation(q.concept)
        asked.append(f"- {what}" + (f" ({how.label})" if how is not None else " (ask the patient)"))
        if how is not None and effort.rank(q.concept) > EXAMINATION_RANK and all(o[0] is not how for o in orders):
            orders.append((how, q))
    more = len(asked) - LISTED
    lines = [f"**{_title(rule)}: undetermined.** {summary_from(rule, a.proof)}", "",
             "An answer to any of these can settle it (those that settle the most rules first, then the cheapest to "
             "learn):", *asked[:LISTED], *([f"- and {more} more"] if more > 0 else []), "", *_sources(rule), "",
             f"*{CLASSIFICATION_NOTE}*", "", f"> {a.knowledge.disclaimer}"]
    n = len(questions)
    card = _card(f"{_title(rule)}: undetermined — {n} question{'s' * (n != 1)} could settle it.", "info", rule, base,
                 permalink, "\n".join(lines))
    if orders:
        card["suggestions"] = [_order(a, how, q) for how, q in orders]
        card["selectionBehavior"] = "any"
    return card


def _order(a: Assessment, investigation, question) -> dict:
    book = a.knowledge.fhir.codes
    patient = a.origin.patient if a.origin is not None and a.origin.patient else None
    codings = [{"system": o.system, "code": o.code, "display": o.display} for o in book.orders.get(investigation.id, ())]
    codings.append({"system": book.own_system, "code": investigation.id, "display": investigation.label})
    request = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
               "code": {"coding": codings, "text": investigation.label},
               "reasonCode": [{"text": f"to learn: {question.concept.label}"}]}
    if patient:
        request["subject"] = {"reference": patient}
    return {"label": f"Order {investigation.label}", "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create", "description": f"Propose {investigation.label} (to learn: "
                                                          f"{question.concept.label}).", "resource": request}]}


def plausible(a: Assessment, step) -> bool:
    """Whether the record makes the rule worth a card while it is undetermined: it states present what each entry
    condition is about (or, without entry conditions, something the rule reads)."""
    if step.requires:
        return all(_states_present(a, s) for s in step.requires)
    return _states_present(a, step)


def _states_present(a: Assessment, step) -> bool:
    """Whether the record states present (or implies) a finding this step reads."""
    if isinstance(step.item, FindingItem):
        return a.fact_use(step.item).present is True
    if step.conclusion is not None:
        return _states_present(a, step.conclusion)
    return any(_states_present(a, s) for s in (*step.requires, *step.children))


def _card(summary: str, indicator: str, rule: Rule, base: str, permalink: str, detail: str) -> dict:
    if len(summary) > SUMMARY_MAX:
        summary = summary[:SUMMARY_MAX - 1].rstrip() + "…"
    return {
        "uuid": str(uuid.uuid4()), "summary": summary, "indicator": indicator, "detail": detail,
        "source": {"label": f"spakg — {rule.label}", "url": f"{base}/rules/{rule.id}"},
        "links": [{"label": "Open this assessment in spakg", "url": permalink, "type": "absolute"}],
        "overrideReasons": override_reasons(),  # what a clinician may say when dismissing it (counted at /feedback)
    }


def _sources(rule: Rule) -> list[str]:
    """The sentences the rule rests on, in the article's order (each its own quote block), then its citations."""
    lines: list[str] = []
    for s in sorted((s for s in rule.sources if s.quote), key=lambda s: s.start or 0):
        lines += [f"> “{s.quote}” — {s.section or 'the article'}", ""]
    cited = [s.citation for s in rule.sources if not s.quote and s.citation]
    lines += [f"Source: {c}" for c in dict.fromkeys([*cited, *rule.citations])]
    return lines


def _title(rule: Rule) -> str:
    return rule.label[:1].upper() + rule.label[1:]


def _facts_used(a: Assessment, rule: Rule) -> list[str]:
    """The record's facts that decided the rule's findings (through the rules it reads too), with their resources."""
    if a.origin is None:
        return []
    used: dict[tuple[str, bool], str] = {}
    stack = [a.proof.step(rule)]
    while stack:
        step = stack.pop()
        if isinstance(step.item, FindingItem):
            for concept, present in a.fact_use(step.item).stated_by:
                used.setdefault((concept.id, present), concept.label)
        elif step.conclusion is not None:
            stack.append(step.conclusion)
        else:
            stack.extend((*step.requires, *step.children))
    return [f"{label}{'' if present else ': absent'} ({', '.join(a.origin.resources_for(cid, present))})"
            for (cid, present), label in sorted(used.items(), key=lambda kv: kv[1])]


def _permalink_record(a: Assessment) -> Mapping:
    if a.origin is not None:
        return a.origin.record
    f = a.facts
    return {"findings": [{"concept": c.id, "present": p, **q} for c, p, q in f.stated], "sex": f.sex,
            "measurements": dict(f.measurements)}
