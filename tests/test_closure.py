"""Issue 15: the fact closure is exact for the OWL fragment the ontology uses, and refuses what it cannot honour."""

from __future__ import annotations

import os
import random

import pytest

from spakg.errors import ContradictoryFacts, OntologyError
from spakg.hermit import closure_by_hermit
from spakg.knowledge import Knowledge
from spakg.synth import random_facts

# Raise for a deeper run: SPAKG_DIFFERENTIAL_PATIENTS=5000 python -m pytest tests/test_closure.py
DIFFERENTIAL_PATIENTS = int(os.environ.get("SPAKG_DIFFERENTIAL_PATIENTS", "300"))


def closed(knowledge, *findings):
    facts = knowledge.facts.patient(list(findings))
    names = lambda mask: {c.id for i, c in enumerate(knowledge.facts.observable) if mask >> i & 1}  # noqa: E731
    return names(facts.present), names(facts.absent)


def test_an_intersection_definition_is_honoured_both_ways(knowledge):
    present, _ = closed(knowledge, {"concept": "InflammatoryBackPain"}, {"concept": "MechanicalBackPain"})
    assert "MixedBackPain" in present  # MixedBackPain ≡ InflammatoryBackPain and MechanicalBackPain
    _, absent = closed(knowledge, {"concept": "InflammatoryBackPain"}, {"concept": "MixedBackPain", "present": False})
    assert "MechanicalBackPain" in absent


def test_complementary_definitions_are_honoured(knowledge):
    # axSpA that is not AS is non-radiographic, and the reverse: the definitions are complements within axSpA
    present, absent = closed(knowledge, {"concept": "AxialSpondyloarthritis"},
                             {"concept": "AnkylosingSpondylitis", "present": False})
    assert "NonRadiographicAxialSpondyloarthritis" in present and "AnkylosingSpondylitis" in absent
    present, _ = closed(knowledge, {"concept": "AxialSpondyloarthritis"},
                        {"concept": "NonRadiographicAxialSpondyloarthritis", "present": False})
    assert "AnkylosingSpondylitis" in present


def test_facts_hermit_finds_inconsistent_are_refused_naming_the_axioms(knowledge):
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.patient([{"concept": "AnkylosingSpondylitis"}, {"concept": "NonRadiographicAxialSpondyloarthritis"}])
    e = err.value
    assert e.details["facts"] == ["AnkylosingSpondylitis present", "NonRadiographicAxialSpondyloarthritis present"]
    assert sorted(e.details["axioms"]) == [
        "AnkylosingSpondylitis SubClassOf RadiographicSacroiliitis",
        "NonRadiographicAxialSpondyloarthritis EquivalentTo AxialSpondyloarthritis and (not RadiographicSacroiliitis)"]
    assert "the ontology says" in e.message


@pytest.mark.parametrize("diagnosis, xray, axiom", [
    ("AnkylosingSpondylitis", False, "AnkylosingSpondylitis SubClassOf RadiographicSacroiliitis"),
    ("NonRadiographicAxialSpondyloarthritis", True,
     "NonRadiographicAxialSpondyloarthritis EquivalentTo AxialSpondyloarthritis and (not RadiographicSacroiliitis)"),
])
def test_a_diagnosis_with_the_x_ray_its_definition_excludes_is_a_contradiction(knowledge, diagnosis, xray, axiom):
    """Issue 22: AS is axial SpA with radiographic sacroiliitis, nr-axSpA axial SpA without it."""
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.patient([{"concept": diagnosis}, {"concept": "RadiographicSacroiliitis", "present": xray}])
    assert err.value.details["axioms"] == [axiom]
    assert err.value.code == "CONTRADICTORY_FACTS"


def test_a_stated_diagnosis_decides_its_x_ray_and_the_x_ray_decides_the_form(knowledge):
    present, absent = closed(knowledge, {"concept": "AnkylosingSpondylitis"})
    assert {"RadiographicSacroiliitis", "AxialSpondyloarthritis"} <= present
    assert "NonRadiographicAxialSpondyloarthritis" in absent
    present, absent = closed(knowledge, {"concept": "NonRadiographicAxialSpondyloarthritis"})
    assert {"RadiographicSacroiliitis", "AnkylosingSpondylitis"} <= absent
    present, _ = closed(knowledge, {"concept": "AxialSpondyloarthritis"}, {"concept": "RadiographicSacroiliitis"})
    assert "AnkylosingSpondylitis" in present
    present, _ = closed(knowledge, {"concept": "AxialSpondyloarthritis"},
                        {"concept": "RadiographicSacroiliitis", "present": False})
    assert "NonRadiographicAxialSpondyloarthritis" in present


def test_a_contradiction_is_reduced_to_the_facts_that_clash(knowledge):
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.patient([{"concept": "BackPain"}, {"concept": "NightPain"}, {"concept": "AxialSpondyloarthritis"},
                                 {"concept": "Psoriasis"}, {"concept": "AnkylosingSpondylitis", "present": False},
                                 {"concept": "NonRadiographicAxialSpondyloarthritis", "present": False}])
    assert err.value.details["facts"] == ["AxialSpondyloarthritis present", "AnkylosingSpondylitis absent",
                                          "NonRadiographicAxialSpondyloarthritis absent"]


def test_stated_by_names_the_facts_that_entail_a_state_together(knowledge):
    from spakg.assessment import Assessment

    facts = knowledge.facts.patient([{"concept": "InflammatoryBackPain"}, {"concept": "MechanicalBackPain"}])
    index = knowledge.facts.index["MixedBackPain"]
    stated = knowledge.facts.stated_by(facts, index)
    assert [(f.concept.id, f.present) for f in stated] == [("InflammatoryBackPain", True), ("MechanicalBackPain", True)]
    assert Assessment(knowledge, facts).statuses  # decides without error


@pytest.mark.parametrize("axiom, what", [
    ("spakg:Odd rdfs:subClassOf [ a owl:Restriction ; owl:onProperty spakg:affects ; owl:allValuesFrom spakg:Spine ] .",
     "a universal restriction (only)"),
    ("spakg:Odd rdfs:subClassOf [ a owl:Restriction ; owl:onProperty spakg:affects ; owl:minCardinality 2 ] .",
     "a cardinality restriction (min)"),
    ("spakg:Odd owl:equivalentClass [ a owl:Class ; owl:oneOf ( spakg:x ) ] .", "an enumeration of individuals (oneOf)"),
    ("spakg:affects rdfs:domain spakg:Disease .", "has a domain"),
    ("spakg:affects a owl:TransitiveProperty .", "the characteristic 'transitive'"),
])
def test_an_axiom_the_closure_cannot_honour_is_refused_with_a_fix(ontology_copy, axiom, what):
    (ontology_copy / "odd.ttl").write_text(
        "@prefix spakg: <https://w3id.org/spakg/> . @prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        "spakg:Odd a owl:Class ; rdfs:subClassOf spakg:ClinicalFinding ; rdfs:label \"odd\" ; skos:definition \"x\" .\n"
        + axiom + "\n", encoding="utf-8")
    with pytest.raises(OntologyError) as err:
        Knowledge.load(ontology_copy)
    assert what in err.value.message and "fact closure cannot reason with" in err.value.message
    assert "some" in err.value.fix


def test_the_closure_agrees_with_hermit_on_random_patients(knowledge):
    """Random facts over every observable class (3-26 each, many inconsistent on purpose; every other patient also
    states classes that definitions tie together), closed by spakg and by HermiT: the same verdict on consistency,
    the same classes present and absent, for every patient."""
    rng = random.Random(20261125)
    cohort = [random_facts(knowledge, rng, focus=n % 2 == 1) for n in range(DIFFERENTIAL_PATIENTS)]
    iri = {c.id: c.iri for c in knowledge.facts.observable}
    observable = [c.iri for c in knowledge.facts.observable]
    by_hermit = closure_by_hermit(knowledge.graph, [[(iri[f["concept"]], f["present"]) for f in p] for p in cohort],
                                  observable)
    disagreements = []
    consistent = 0
    for findings, hermit in zip(cohort, by_hermit, strict=True):
        try:
            facts = knowledge.facts.patient(findings)
        except ContradictoryFacts:
            ours = (False, frozenset(), frozenset())
        else:
            ours = (True, frozenset(o for i, o in enumerate(observable) if facts.present >> i & 1),
                    frozenset(o for i, o in enumerate(observable) if facts.absent >> i & 1))
        consistent += ours[0]
        if ours != (hermit.consistent, hermit.present, hermit.absent):
            disagreements.append((findings, ours, hermit))
    assert disagreements == []
    assert 0.2 * len(cohort) < consistent < 0.9 * len(cohort)  # both verdicts are exercised
