"""An assessment's proofs as RDF (PROV-O) a semantic app can store: a prov:Activity that used the patient's facts
and the rules, generating one entity per rule outcome, each derived from the facts and earlier outcomes that decided
it."""

from __future__ import annotations

import uuid

from rdflib import BNode, Graph, Literal, URIRef

from .assessment import Assessment
from .namespaces import DCTERMS, PROV, PT, RDF, RDFS, RULE, SPAKG, XSD
from .rules import ConclusionItem, FindingItem, Rule, Step

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
        g.add((activity, PROV.used, node))
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
        _derivations(a, step, node, facts, outcomes, g)
    return g


def _derivations(a: Assessment, step: Step, node: URIRef, facts: dict, outcomes: dict, g: Graph) -> None:
    """Record what decided each item (as a qualified derivation per item) under the rule outcome ``node``."""
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
        elif isinstance(s.item, ConclusionItem):
            g.add((node, PROV.wasDerivedFrom, outcomes[s.conclusion.item.id]))  # type: ignore[union-attr]
        else:
            stack.extend([*s.requires, *s.children])
