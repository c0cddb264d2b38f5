"""An assessment's proofs as RDF (PROV-O) a semantic app can store: a prov:Activity that used the patient's facts
and the rules, generating one entity per rule outcome, each derived from the facts and earlier outcomes that decided
it."""

from __future__ import annotations

import uuid

from rdflib import BNode, Graph, Literal, URIRef

from .assessment import Assessment
from .namespaces import DCTERMS, PROV, PT, RDF, RDFS, RULE, SPAKG, XSD
from .rules import ConclusionItem, FindingItem, QuantityItem, Rule, Step

PROOF = "https://w3id.org/spakg/proof/"


def assessment_graph(a: Assessment) -> Graph:
    """The assessment as a prov:Activity that used the patient's facts and the rules, generating one entity per
    rule outcome; each outcome prov:wasDerivedFrom the facts and earlier outcomes that decided it."""
    g = Graph()
    for prefix, ns in (("prov", PROV), ("spakg", SPAKG), ("rule", RULE), ("pt", PT), ("dcterms", DCTERMS)):
        g.bind(prefix, ns)
    base = f"{PROOF}{uuid.uuid4()}/"
    activity = URIRef(base + "assessment")
    g.add((activity, RDF.type, PROV.Activity))
    g.add((activity, RDFS.label, Literal(f"spakg assessment of {a.patient_id or 'an anonymous patient'}")))
    g.add((activity, DCTERMS.hasVersion, Literal(a.knowledge.version)))
    g.add((activity, SPAKG.ontologyHash, Literal(a.knowledge.content_hash)))
    g.add((activity, SPAKG.disclaimer, Literal(a.knowledge.disclaimer)))
    patient = URIRef(base + "patient")
    g.add((patient, RDF.type, PROV.Entity))
    g.add((patient, RDF.type, PT.Patient))
    if a.patient_id is not None:
        g.add((patient, PT.id, Literal(a.patient_id)))
    if a.facts.sex is not None:
        g.add((patient, PT.sex, Literal(a.facts.sex)))
    for name, value in a.facts.measurements.items():
        g.add((patient, PT[name], Literal(value, datatype=XSD.decimal)))
    g.add((activity, PROV.used, patient))
    facts: dict[str, URIRef] = {}
    for finding in a.facts.findings:
        concept = finding.concept
        node = URIRef(base + f"fact/{concept.id}/{'present' if finding.present else 'absent'}")
        facts[concept.id] = node
        g.add((patient, PT.hasFinding, node))
        g.add((node, RDF.type, PROV.Entity))
        g.add((node, RDF.type, PT.Finding))
        g.add((node, PT.concept, URIRef(concept.iri)))
        g.add((node, PT.present, Literal(finding.present)))
        for name, value in finding.quantities.items():
            g.add((node, PT[name], Literal(value, datatype=XSD.decimal)))
        if a.origin is not None:  # read from FHIR: the resources that stated it (Condition/abc)
            for ref in a.origin.resources_for(concept.id, finding.present):
                g.add((node, DCTERMS.source, Literal(ref)))
        g.add((activity, PROV.used, node))
    scores = _scores(a, base, activity, patient, g)
    outcomes = {s.item.id: URIRef(base + f"inference/{s.item.id}") for s in a.steps}
    for step in a.steps:
        rule: Rule = step.item  # type: ignore[assignment]
        node = outcomes[rule.id]
        g.add((node, RDF.type, PROV.Entity))
        g.add((node, RDF.type, RULE.Inference))
        g.add((node, PROV.wasGeneratedBy, activity))
        g.add((node, RULE.rule, URIRef(rule.iri)))
        g.add((node, RULE.concludes, URIRef(rule.concludes.iri)))  # type: ignore[union-attr]
        g.add((node, RULE.status, Literal(step.status_name)))
        g.add((node, RDFS.comment, Literal(a.summary(step))))
        g.add((activity, PROV.used, URIRef(rule.iri)))
        for src in rule.sources:
            g.add((node, PROV.hadPrimarySource, URIRef(src.iri) if src.iri else Literal(src.citation)))
        _derivations(a, step, node, facts, outcomes, scores, patient, g)
    return g


def _scores(a: Assessment, base: str, activity: URIRef, patient: URIRef, g: Graph) -> dict[str, URIRef]:
    """One entity per score, derived from the patient's measurements, with its interval and a node per term."""
    out: dict[str, URIRef] = {}
    for s in a.scores:
        d = s.definition
        node = out[d.id] = URIRef(base + f"score/{d.id}")
        g.add((node, RDF.type, PROV.Entity))
        g.add((node, PT.scoreOf, URIRef(d.quantity.iri)))
        g.add((node, RDFS.label, Literal(d.quantity.label)))
        g.add((node, PROV.wasGeneratedBy, activity))
        g.add((node, PROV.wasDerivedFrom, patient))
        g.add((node, PT.low, Literal(s.low, datatype=XSD.double)))
        g.add((node, PT.high, Literal(s.high, datatype=XSD.double)))
        if s.value is not None:
            g.add((node, RDF.value, Literal(s.value, datatype=XSD.double)))
        g.add((node, RDFS.comment, Literal(s.explanation)))
        for t in s.terms:
            term = BNode()
            g.add((node, PT["term"], term))
            g.add((term, PT.input, URIRef(t.term.quantity.iri)))
            if t.value is not None:
                g.add((term, RDF.value, Literal(t.value, datatype=XSD.double)))
            g.add((term, PT.low, Literal(t.contribution[0], datatype=XSD.double)))
            g.add((term, PT.high, Literal(t.contribution[1], datatype=XSD.double)))
    return out


def _derivations(a: Assessment, step: Step, node: URIRef, facts: dict, outcomes: dict, scores: dict,
                 patient: URIRef, g: Graph) -> None:
    """Record what decided each item (as a qualified derivation per item) under the rule outcome ``node``: the facts,
    the earlier outcomes, and for a number about the patient, the score or the patient record it comes from."""
    stack = [*step.requires, *step.children]
    while stack:
        s = stack.pop()
        if isinstance(s.item, FindingItem):
            q = BNode()
            g.add((node, PROV.qualifiedDerivation, q))
            g.add((q, RDF.type, PROV.Derivation))
            g.add((q, RULE.item, URIRef(s.item.iri)))
            g.add((q, RULE.status, Literal(s.status_name)))
            for concept, _present in a.fact_use(s.item).stated_by:
                g.add((q, PROV.entity, facts[concept.id]))
                g.add((node, PROV.wasDerivedFrom, facts[concept.id]))
        elif isinstance(s.item, QuantityItem):
            for c in s.item.comparisons:
                g.add((node, PROV.wasDerivedFrom, scores.get(c.quantity, patient)))
        elif isinstance(s.item, ConclusionItem):
            g.add((node, PROV.wasDerivedFrom, outcomes[s.conclusion.item.id]))  # type: ignore[union-attr]
        else:
            stack.extend([*s.requires, *s.children])
