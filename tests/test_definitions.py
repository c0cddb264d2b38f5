"""Issue 22: a stated diagnosis decides what its definition implies, and nothing more.

The definitions are the ontology's own (``owl:equivalentClass`` an intersection of observable classes and
complements of them: ankylosing spondylitis is axial SpA with radiographic sacroiliitis, non-radiographic axial SpA is
axial SpA without it, mixed back pain is inflammatory and mechanical). For random consistent patients: stating a
defined class beside the facts its definition names never moves a rule's outcome, and stating it beside the negation
of one of those facts is always CONTRADICTORY_FACTS, naming an axiom about the class.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rdflib import BNode, URIRef

from spakg.assessment import Assessment
from spakg.errors import ContradictoryFacts
from spakg.knowledge import Knowledge
from spakg.namespaces import OWL

KNOWLEDGE = Knowledge.load()


def _definitions(k: Knowledge) -> list[tuple[str, tuple[tuple[str, bool], ...]]]:
    """Each observable class defined as an intersection of observable classes (or their complements), with the
    literals its definition names: (class id, ((member id, present), ...))."""
    graph, ids = k.graph, {c.iri: c.id for c in k.facts.observable}
    out = []
    for cls, node in graph.subject_objects(OWL.equivalentClass):
        members = graph.value(node, OWL.intersectionOf) if isinstance(node, BNode) else None
        if str(cls) not in ids or members is None:
            continue
        literals = []
        for m in graph.items(members):
            negated = graph.value(m, OWL.complementOf) if isinstance(m, BNode) else None
            target, present = (negated, False) if negated is not None else (m, True)
            if not isinstance(target, URIRef) or str(target) not in ids:
                break
            literals.append((ids[str(target)], present))
        else:
            out.append((ids[str(cls)], tuple(literals)))
    return sorted(out)


DEFINITIONS = _definitions(KNOWLEDGE)
OBSERVABLE = [c.id for c in KNOWLEDGE.facts.observable]

patients = st.lists(st.tuples(st.sampled_from(OBSERVABLE), st.booleans()), max_size=10, unique_by=lambda f: f[0])


def _findings(pairs) -> list[dict]:
    return [{"concept": c, "present": p} for c, p in pairs]


def _outcomes(findings: list[dict]) -> tuple[int, ...]:
    return Assessment(KNOWLEDGE, KNOWLEDGE.facts.patient(findings)).statuses


def test_the_ontology_defines_the_forms_of_axial_spa_by_their_x_ray():
    defined = dict(DEFINITIONS)
    assert defined["AnkylosingSpondylitis"] == (("AxialSpondyloarthritis", True), ("RadiographicSacroiliitis", True))
    assert defined["NonRadiographicAxialSpondyloarthritis"] == (("AxialSpondyloarthritis", True),
                                                              ("RadiographicSacroiliitis", False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(definition=st.sampled_from(DEFINITIONS), pairs=patients)
def test_stating_a_diagnosis_beside_what_its_definition_implies_changes_no_outcome(definition, pairs):
    cls, literals = definition
    named = {c for c, _ in literals} | {cls}
    base = _findings([(c, p) for c, p in pairs if c not in named]) + _findings(literals)
    try:
        without = _outcomes(base)
    except ContradictoryFacts:
        assume(False)
        return
    assert _outcomes([*base, {"concept": cls}]) == without
    assert _outcomes([{"concept": cls}, *base]) == without  # the order findings come in is no matter


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(definition=st.sampled_from(DEFINITIONS), pairs=patients, data=st.data())
def test_stating_a_diagnosis_beside_a_fact_its_definition_excludes_is_a_contradiction(definition, pairs, data):
    cls, literals = definition
    excluded, present = data.draw(st.sampled_from(literals))
    named = {c for c, _ in literals} | {cls}
    findings = _findings([(c, p) for c, p in pairs if c not in named])
    with pytest.raises(ContradictoryFacts) as err:
        KNOWLEDGE.facts.patient([*findings, {"concept": cls}, {"concept": excluded, "present": not present}])
    assert err.value.code == "CONTRADICTORY_FACTS"
    assert err.value.details["axioms"], "a contradiction through a definition names the axioms"
    if set(err.value.details["facts"]) == {f"{cls} present", f"{excluded} {'absent' if present else 'present'}"}:
        assert any(a.startswith(cls) for a in err.value.details["axioms"])
