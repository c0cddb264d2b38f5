"""Compile the ontology's rule resources into item objects once; evaluate all rules for a patient.

Every reference is checked here, at load time: unknown classes, unknown rules, unknown quantities, a threshold no
patient could reach, and cycles between rules (A uses B uses A) are refused. Each broken rule is one OntologyError
naming the resource at fault and the fix; all of them are raised together (OntologyProblems), so that one run of
``spakg check`` lists every problem rather than the first.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from rdflib import Graph, Literal, URIRef

from ..concepts import ConceptIndex, local_name
from ..errors import OntologyError, OntologyProblems, UnknownRule
from ..facts import FactSpace, PatientFacts
from ..namespaces import DCTERMS, RDF, RDFS, RULE, SPAKG
from ..provenance import ProvenanceIndex
from .compiler import compile_rules
from .items import COMPARATORS, Comparison, ConclusionItem, FindingItem, Group, Item, QuantityItem, Rule, Step
from .proof import Proof

_RULE_TYPES = ("ClassificationCriteria", "ArticlePattern", "ArticleDefinition", "ReferralAdvice", "InvestigationAdvice",
               "ScoreCategory", "Rule")


class RuleBook:
    def __init__(self, graph: Graph, concepts: ConceptIndex, facts: FactSpace, provenance: ProvenanceIndex) -> None:
        self._graph = graph
        self._concepts = concepts
        self._facts = facts
        self._provenance = provenance
        self._items: dict[URIRef, Item] = {}
        self.rules: dict[str, Rule] = {}
        problems: list[OntologyError] = []
        rule_nodes = sorted({s for t in _RULE_TYPES for s in graph.subjects(RDF.type, RULE[t])}, key=str)
        for node in rule_nodes:  # create every rule first, so conclusion items can point at any of them
            try:
                rule = Rule(**self._common(node))
            except OntologyError as err:
                problems.append(err)
                continue
            rule.rule_type = next((t for t in _RULE_TYPES if (node, RDF.type, RULE[t]) in graph), "Rule")
            self._items[node] = rule
            self.rules[rule.id] = rule
        for node in rule_nodes:
            if node not in self._items:
                continue
            try:
                self._fill_group(node, self._items[node])  # type: ignore[arg-type]
                self._fill_rule(node, self.rules[local_name(str(node))])
            except OntologyError as err:
                problems.append(err)
        try:
            self.order = self._dependency_order()
        except OntologyError as err:
            problems.append(err)
        if problems:
            raise OntologyProblems(problems)
        self.compiled = compile_rules(self.order, facts.plain_values)
        self._outcomes = self.compiled.outcomes
        self._vector = self.compiled.vector
        self._plain = facts.plain_values  # a patient who gave no number has exactly these (the same object)
        self.by_concept: dict[str, list[Rule]] = {}
        for rule in self.order:
            for concept in rule.findings():
                self.by_concept.setdefault(concept.id, []).append(rule)

    # ------------------------------------------------------------------ compiling
    def _common(self, node: URIRef) -> dict:
        g = self._graph
        label = g.value(node, RDFS.label)
        if label is None:
            raise OntologyError(f"{local_name(str(node))} has no rdfs:label; every rule and item needs one.", entity=str(node),
                                fix="Add an rdfs:label saying what the item checks, as a clinician would read it.")
        return {
            "id": local_name(str(node)), "iri": str(node), "label": str(label),
            "order": int(self._number(node, RULE.order, 0)), "weight": self._number(node, RULE.weight, 1),
            "sources": self._provenance.for_subject(g, node),
            "notes": sorted(str(n) for p in (RULE.note, SPAKG.curationNote) for n in g.objects(node, p)),
        }

    def _number(self, node, prop: URIRef, default: float | None, owner: URIRef | None = None) -> float:
        value = self._graph.value(node, prop)
        if value is None:
            return default  # type: ignore[return-value]
        try:
            return float(value)
        except ValueError:
            where = owner if owner is not None else node
            raise OntologyError(f"{local_name(str(where))}: rule:{local_name(str(prop))} is {str(value)!r}, not a number.",
                                entity=str(where), fix=f"Write rule:{local_name(str(prop))} as a plain number, "
                                                       f"e.g. 3 (no quotes).") from None

    def _item(self, node: URIRef, owner: str) -> Item:
        if node in self._items:
            return self._items[node]
        g = self._graph
        if (node, RDF.type, RULE.FindingItem) in g:
            item: Item = self._finding_item(node)
        elif (node, RDF.type, RULE.QuantityItem) in g:
            item = QuantityItem(**self._common(node), comparisons=self._comparisons(node, None))
        elif (node, RDF.type, RULE.ConclusionItem) in g:
            target = g.value(node, RULE.conclusionOf)
            if target not in self._items or not isinstance(self._items[target], Rule):
                raise OntologyError(f"{local_name(str(node))} (in {owner}) refers to {target}, which is not a rule.",
                                    entity=str(node), fix="Point rule:conclusionOf at a resource typed rule:Rule "
                                    "(or one of its subclasses), e.g. spakg:AsasIbpCriteria.")
            expects = g.value(node, RULE.expects)
            accept = _true(g.value(node, RULE.acceptUndetermined))
            if expects not in (None, RULE.Present, RULE.Absent) or (expects == RULE.Absent and accept):
                raise OntologyError(f"{local_name(str(node))}: a conclusion item expects its rule met (rule:Present, "
                                    f"the default) or not met (rule:Absent), and only the first may accept an "
                                    f"undetermined outcome.", entity=str(node),
                                    fix="Write rule:expects rule:Absent for 'not met', without rule:acceptUndetermined.")
            item = ConclusionItem(**self._common(node), rule=self._items[target],  # type: ignore[arg-type]
                                  accept_undetermined=accept, negated=expects == RULE.Absent)
        elif (node, RDF.type, RULE.Group) in g:
            item = Group(**self._common(node))
            self._items[node] = item
            self._fill_group(node, item)  # type: ignore[arg-type]
        else:
            raise OntologyError(f"{local_name(str(node))} (in {owner}) is not typed rule:FindingItem, "
                                f"rule:QuantityItem, rule:ConclusionItem or rule:Group.", entity=str(node),
                                fix="Add 'a rule:FindingItem' (or rule:QuantityItem, rule:ConclusionItem, rule:Group) "
                                    "to the item.")
        self._items[node] = item
        return item

    def _finding_item(self, node: URIRef) -> FindingItem:
        g = self._graph
        name = local_name(str(node))
        concept_ref = g.value(node, RULE.finding)
        concept = self._concepts.find(str(concept_ref)) if concept_ref is not None else None
        if concept is None:
            raise OntologyError(f"{name} looks at {concept_ref}, which is not a class of the ontology.", entity=str(node),
                                fix="Point rule:finding at an existing spakg: class (check the spelling), or declare "
                                    "the class in spakg.ttl first.")
        if concept.id not in self._facts.bit:
            raise OntologyError(f"{name} looks at {concept.id}, which is not patient-observable "
                                f"(not under a class marked spakg:patientObservable).", entity=str(node),
                                fix=f"Make {concept.id} a subclass of ClinicalFinding or Disease, or look at a finding "
                                    f"instead of an investigation or a recommendation.")
        comparisons = self._comparisons(node, concept)
        expects = g.value(node, RULE.expects)
        if expects not in (None, RULE.Present, RULE.Absent):
            raise OntologyError(f"{name}: rule:expects must be rule:Present or rule:Absent.", entity=str(node),
                                fix="Write rule:expects rule:Absent, or leave it out for present.")
        if comparisons and expects == RULE.Absent:
            raise OntologyError(f"{name}: a comparison on an absent finding can never be met.", entity=str(node),
                                fix="Drop the rule:compare, or expect the finding present.")
        return FindingItem(
            **self._common(node), concept=concept, bit=self._facts.bit[concept.id], index=self._facts.index[concept.id],
            expects_present=expects != RULE.Absent, comparisons=comparisons,
            accept_unknown=_true(g.value(node, RULE.acceptUnknown)),
        )

    def _comparisons(self, node: URIRef, concept) -> tuple[Comparison, ...]:
        """A finding item's comparisons on its finding's quantities, or (concept None) a quantity item's on the
        patient's; refused with a fix when a quantity is unknown or does not fit."""
        g, table = self._graph, self._facts.quantities
        name = local_name(str(node))
        out = []
        for cmp in g.objects(node, RULE.compare):
            quantity = g.value(cmp, RULE.quantity)
            qname = local_name(str(quantity)) if quantity is not None else None
            q = table.get(qname) if qname else None
            if q is None:
                raise OntologyError(f"{name} compares an unknown quantity {quantity}.", entity=str(node),
                                    fix=f"Use one of {', '.join('pt:' + n for n in sorted(table))}, "
                                        f"or declare a new pt:Quantity in rule-vocabulary.ttl.")
            if concept is None and not q.patient_level:
                raise OntologyError(f"{name} compares {qname}, which rides on a finding ({q.where}), not on the "
                                    f"patient.", entity=str(node),
                                    fix=f"Make {name} a rule:FindingItem with rule:finding {q.where.split(', ')[0]}.")
            if concept is not None and concept.id not in q.applies_to:
                raise OntologyError(f"{name} compares {qname}, which does not apply to {concept.id}.", entity=str(node),
                                    fix=f"Compare a quantity that rides on {concept.id}, or add pt:appliesTo to "
                                        f"pt:{qname}." if not q.patient_level else
                                        f"pt:{qname} is about the patient: compare it in a rule:QuantityItem.")
            ops = [(op, g.value(cmp, RULE[op])) for op in COMPARATORS if g.value(cmp, RULE[op]) is not None]
            if len(ops) != 1:
                raise OntologyError(f"{name}: each rule:compare needs exactly one of {', '.join(COMPARATORS)}.",
                                    entity=str(node), fix="Give each comparison one bound; write two rule:compare "
                                    "nodes for a range.")
            value = self._number(cmp, RULE[ops[0][0]], None, owner=node)
            slot = table.slot(qname, None if concept is None else self._facts.index[concept.id])
            out.append(Comparison(qname, ops[0][0], value, slot))
        if concept is None and not out:
            raise OntologyError(f"{name} is a quantity item without a rule:compare.", entity=str(node),
                                fix="Add rule:compare [ rule:quantity pt:age ; rule:atMost 50 ] (or the number it tests).")
        return tuple(sorted(out, key=lambda c: (c.quantity, c.op, c.value)))

    def _fill_group(self, node: URIRef, group: Group) -> None:
        g = self._graph
        group.requires = sorted((self._item(n, group.id) for n in g.objects(node, RULE.requires)), key=_sort_key)
        group.items = sorted((self._item(n, group.id) for n in g.objects(node, RULE.item)), key=_sort_key)
        if not group.items:
            raise OntologyError(f"{group.id} has no rule:item.", entity=str(node),
                                fix="Link at least one item with rule:item, or remove the group.")
        group.threshold = self._number(node, RULE.threshold, None)
        basis = g.value(node, RULE.thresholdBasis)
        group.threshold_basis = str(basis) if basis is not None else None
        if group.threshold is not None and group.threshold > group.total_weight:
            raise OntologyError(f"{group.id} has threshold {group.threshold:g} but its items weigh "
                                f"{group.total_weight:g} in all; no patient could meet it.", entity=str(node),
                                fix=f"Lower rule:threshold to at most {group.total_weight:g}, or add items.")
        if group.threshold is not None and group.threshold <= 0:
            raise OntologyError(f"{group.id} has threshold {group.threshold:g}; every patient would meet it, "
                                f"even one with no findings.", entity=str(node),
                                fix="Give a threshold of at least 1 (or leave it out: all items).")

    def _fill_rule(self, node: URIRef, rule: Rule) -> None:
        g = self._graph
        concludes = g.value(node, RULE.concludes)
        concept = self._concepts.find(str(concludes)) if concludes is not None else None
        if concept is None:
            raise OntologyError(f"{rule.id} concludes {concludes}, which is not a class of the ontology.", entity=str(node),
                                fix="Point rule:concludes at an existing spakg: class (check the spelling).")
        rule.concludes = concept
        rule.short_label = str(g.value(node, RULE.shortLabel) or rule.label)
        rule.citations = sorted(str(c) for c in g.objects(node, DCTERMS.bibliographicCitation))
        self._fill_category(node, rule)
        if not rule.sources:
            raise OntologyError(f"{rule.id} has no source.", entity=str(node),
                                fix="Give prov:wasDerivedFrom a quote of the article (make one with `spakg quote`) or "
                                    "dcterms:bibliographicCitation with the paper (authors, year, journal).")

    def _fill_category(self, node: URIRef, rule: Rule) -> None:
        """A score category names its score (rule:categoryOf) and compares it; no other rule names a score."""
        g, table = self._graph, self._facts.quantities
        target = g.value(node, RULE.categoryOf)
        if rule.rule_type != "ScoreCategory":
            if target is not None:
                raise OntologyError(f"{rule.id} has rule:categoryOf but is not typed rule:ScoreCategory.",
                                    entity=str(node), fix="Type the rule rule:ScoreCategory, or drop rule:categoryOf.")
            return
        score = table.get(local_name(str(target))) if target is not None else None
        if score is None or not score.score:
            raise OntologyError(f"The score category {rule.id} needs rule:categoryOf naming a pt:Score "
                                f"(got {target}).", entity=str(node),
                                fix="Write rule:categoryOf pt:AsdasCrp (or another pt:Score).")
        compared = {c.quantity for q in rule.quantity_items() for c in q.comparisons}
        if score.name not in compared:
            raise OntologyError(f"The score category {rule.id} never compares {score.name}.", entity=str(node),
                                fix=f"Give it a rule:QuantityItem with rule:compare [ rule:quantity pt:{score.name} ; "
                                    f"rule:atLeast … ].")
        rule.category_of = score.name

    def _dependency_order(self) -> list[Rule]:
        sorter = TopologicalSorter({r: r.depends_on() for r in self.rules.values()})
        try:
            order = list(sorter.static_order())
        except CycleError as exc:
            cycle = " → ".join(r.id for r in exc.args[1])
            raise OntologyError(f"Rule cycle: {cycle}. A rule cannot depend on its own conclusion.",
                                entity=exc.args[1][0].iri,
                                fix="Remove one of the rule:ConclusionItem links in the cycle.") from None
        return order

    # ------------------------------------------------------------------ using
    def get(self, ref: str) -> Rule:
        key = local_name(ref.removeprefix("spakg:"))
        rule = self.rules.get(key)
        if rule is None:
            raise UnknownRule(f"Unknown rule '{ref}'. Known rules: {', '.join(sorted(self.rules))}.", rule=ref)
        return rule

    def decide(self, facts: PatientFacts) -> tuple[int, ...]:
        """Every rule's status, in ``order`` (dependency order)."""
        q = facts.quantities
        if q is self._plain:
            return self.compiled.outcomes_plain(facts.present, facts.absent, q)
        return self._outcomes(facts.present, facts.absent, q)

    def prove(self, facts: PatientFacts) -> Proof:
        """The whole proof vector; steps are built from it when read."""
        q = facts.quantities
        if q is self._plain:
            return Proof(*self.compiled.vector_plain(facts.present, facts.absent, q))
        return Proof(*self._vector(facts.present, facts.absent, q))

    def evaluate(self, facts: PatientFacts) -> list[Step]:
        """One proof step per rule, in dependency order (a rule's inputs before the rule)."""
        proof = self.prove(facts)
        return [proof.step(rule) for rule in self.order]


def _sort_key(item: Item) -> tuple[int, str]:
    return (item.order, item.id)


def _true(value: object) -> bool:
    return isinstance(value, Literal) and value.toPython() is True


__all__ = ["RuleBook"]
