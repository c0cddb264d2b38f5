"""Issue 3: three-valued classification of patient facts against the ontology's rules, with proofs."""

from __future__ import annotations

import pytest
from rdflib import Graph

from spakg.assessment import Assessment
from spakg.errors import ContradictoryFacts, InvalidValue, OntologyError, TooManyFindings, UnknownConcept
from spakg.knowledge import Knowledge
from spakg.namespaces import PROV, RDF, RULE
from spakg.proof import assessment_dict
from spakg.prov import assessment_graph

CHRONIC_YOUNG = {"concept": "BackPain", "ageAtOnset": 25, "durationMonths": 12}
IBP_FEATURES = [{"concept": c} for c in ("InsidiousOnset", "ImprovementWithExercise", "WorseningWithRest",
                                         "NightPainImprovesOnGettingUp")]


def state(knowledge, findings, concept):
    facts = knowledge.facts.patient(findings)
    return facts.status_of(knowledge.facts.bit[concept])


# ---------------------------------------------------------------- facts and the hierarchy
def test_subclass_present_makes_superclass_present(knowledge):
    assert state(knowledge, [{"concept": "CrohnsDisease"}], "InflammatoryBowelDisease") is True


def test_superclass_absent_makes_subclasses_absent(knowledge):
    assert state(knowledge, [{"concept": "InflammatoryBowelDisease", "present": False}], "CrohnsDisease") is False


def test_subclass_absent_says_nothing_about_superclass(knowledge):
    assert state(knowledge, [{"concept": "CrohnsDisease", "present": False}], "InflammatoryBowelDisease") is None


def test_present_finding_makes_disjoint_classes_absent(knowledge):
    assert state(knowledge, [{"concept": "ImprovementWithRest"}], "WorseningWithRest") is False


def test_disjoint_findings_both_present_are_rejected_naming_both(knowledge):
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.patient([{"concept": "ImprovementWithRest"}, {"concept": "WorseningWithRest"}])
    assert "ImprovementWithRest present" in err.value.message and "WorseningWithRest present" in err.value.message
    assert err.value.code == "CONTRADICTORY_FACTS"


def test_present_and_absent_through_the_hierarchy_is_rejected(knowledge):
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.patient([{"concept": "CrohnsDisease"}, {"concept": "InflammatoryBowelDisease", "present": False}])
    assert "CrohnsDisease present" in err.value.message and "InflammatoryBowelDisease absent" in err.value.message


def test_same_class_present_and_absent_is_rejected(knowledge):
    with pytest.raises(ContradictoryFacts, match="both present and absent"):
        knowledge.facts.patient([{"concept": "Psoriasis"}, {"concept": "Psoriasis", "present": False}])


@pytest.mark.parametrize("finding, fragment", [
    ({"concept": "BackPain", "ageAtOnset": -3}, "between 0 and 120"),
    ({"concept": "BackPain", "durationMonths": -1}, "between 0"),
    ({"concept": "MorningStiffness", "durationMinutes": 5000}, "between 0 and 1440"),
    ({"concept": "Psoriasis", "ageAtOnset": 20}, "does not apply to Psoriasis"),
    ({"concept": "BackPain", "present": False, "durationMonths": 4}, "marked absent"),
    ({"concept": "BackPain", "ageAtOnset": float("nan")}, "finite number"),
    ({"concept": "RheumatologyReferral"}, "not something a patient can have"),
])
def test_impossible_values_are_rejected_with_what_to_fix(knowledge, finding, fragment):
    with pytest.raises(InvalidValue, match=fragment):
        knowledge.facts.patient([finding])


def test_unknown_concept_suggests_the_closest(knowledge):
    with pytest.raises(UnknownConcept) as err:
        knowledge.facts.patient([{"concept": "MorningStifness"}])
    assert "MorningStiffness" in err.value.details["suggestions"]


def test_too_many_findings(knowledge):
    with pytest.raises(TooManyFindings):
        knowledge.facts.patient([{"concept": "BackPain"}] * 500)


def test_quantity_on_a_subclass_rides_up_to_the_class_the_rules_read(assess):
    out = assess({"concept": "InflammatoryBackPain", "ageAtOnset": 25, "durationMonths": 12}, *IBP_FEATURES)
    assert out["AsasIbpCriteria"] == "MET"


# ---------------------------------------------------------------- each rule
def test_asas_ibp_met_not_met_undetermined(assess):
    assert assess(CHRONIC_YOUNG, *IBP_FEATURES)["AsasIbpCriteria"] == "MET"
    assert assess(CHRONIC_YOUNG, {"concept": "ImprovementWithRest"}, {"concept": "SuddenOnset"},
                  {"concept": "ImprovementWithExercise", "present": False})["AsasIbpCriteria"] == "NOT_MET"
    assert assess(CHRONIC_YOUNG, {"concept": "InsidiousOnset"})["AsasIbpCriteria"] == "UNDETERMINED"
    # entry: chronic back pain; 2 months is not chronic
    assert assess({"concept": "BackPain", "ageAtOnset": 25, "durationMonths": 2}, *IBP_FEATURES)["AsasIbpCriteria"] == "NOT_MET"


def test_berlin_two_of_four_in_patients_younger_than_50(assess):
    two = (CHRONIC_YOUNG, {"concept": "MorningStiffness", "durationMinutes": 60}, {"concept": "AlternatingButtockPain"})
    assert assess(*two, age=26)["BerlinIbpCriteria"] == "MET"
    assert assess(*two, age=50)["BerlinIbpCriteria"] == "NOT_MET"  # 'younger than 50 years' (Rudwaleit 2006)
    assert assess(*two)["BerlinIbpCriteria"] == "UNDETERMINED"  # age unknown: at least 26 from the back pain, maybe 50
    assert assess(CHRONIC_YOUNG, {"concept": "MorningStiffness", "durationMinutes": 10},
                  {"concept": "AlternatingButtockPain"}, age=26)["BerlinIbpCriteria"] == "UNDETERMINED"


def test_an_age_not_given_is_bounded_by_the_back_pains_onset_and_duration(assess, knowledge):
    # onset at 38, 240 months of pain: at least 58 years old, so not younger than 50
    late = {"concept": "BackPain", "ageAtOnset": 38, "durationMonths": 240}
    assert assess(late, {"concept": "MorningStiffness", "durationMinutes": 60},
                  {"concept": "AlternatingButtockPain"})["BerlinIbpCriteria"] == "NOT_MET"
    facts = knowledge.facts.patient([late])
    assert facts.quantities[knowledge.facts.quantities.slot("age")] == (58, 120)
    # whole years, as people give their age: 18 months of pain that began at 30 make a 31-year-old, not 31.5
    assert knowledge.facts.read({"age": 31, "findings": [{"concept": "BackPain", "ageAtOnset": 30, "durationMonths": 18}]})


def test_an_age_below_what_the_back_pain_implies_is_a_contradiction(knowledge):
    with pytest.raises(ContradictoryFacts) as err:
        knowledge.facts.read({"age": 30, "findings": [{"concept": "BackPain", "ageAtOnset": 38, "durationMonths": 12}]})
    assert "age is given as 30 years" in err.value.message and "at least 39 years" in err.value.message
    assert err.value.code == "CONTRADICTORY_FACTS"


def test_calin_four_of_five(assess):
    assert assess(CHRONIC_YOUNG, {"concept": "InsidiousOnset"}, {"concept": "MorningStiffness"})["CalinIbpCriteria"] == "MET"


def test_article_patterns_and_the_mixed_pattern(assess):
    mixed = assess({"concept": "BackPain"}, {"concept": "InsidiousOnset"}, {"concept": "ImprovementWithExercise"},
                   {"concept": "NightPain"}, {"concept": "ImprovementWithRest"}, {"concept": "WorseningWithActivity"},
                   {"concept": "MorningStiffness", "present": False})
    assert mixed["ArticleInflammatoryPattern"] == mixed["ArticleMechanicalPattern"] == "MET"
    assert mixed["ArticleMixedPattern"] == "MET"
    mech = assess({"concept": "BackPain"}, {"concept": "SuddenOnset"}, {"concept": "ImprovementWithRest"},
                  {"concept": "WorseningWithActivity"})
    assert mech["ArticleMechanicalPattern"] == "MET" and mech["ArticleInflammatoryPattern"] != "MET"


def test_asas_axspa_imaging_arm(assess):
    out = assess(CHRONIC_YOUNG, {"concept": "SacroiliitisOnMRI"}, {"concept": "Uveitis"}, {"concept": "AnteriorUveitis"})
    assert out["AsasAxialSpaCriteria"] == "MET"


def test_asas_axspa_clinical_arm_and_ibp_as_a_feature_by_its_own_rule(assess):
    out = assess(CHRONIC_YOUNG, *IBP_FEATURES, {"concept": "HLAB27Positive"}, {"concept": "Psoriasis"})
    assert out["AsasIbpCriteria"] == "MET"
    assert out["AsasAxialSpaCriteria"] == "MET"  # HLA-B27 + IBP (concluded) + psoriasis


def test_asas_axspa_entry_onset_after_45_is_not_met(assess):
    out = assess({"concept": "BackPain", "ageAtOnset": 50, "durationMonths": 12}, {"concept": "SacroiliitisOnMRI"},
                 {"concept": "Psoriasis"})
    assert out["AsasAxialSpaCriteria"] == "NOT_MET"


def test_non_radiographic_vs_ankylosing_spondylitis(assess):
    base = [CHRONIC_YOUNG, {"concept": "SacroiliitisOnMRI"}, {"concept": "Psoriasis"}]
    nr = assess(*base, {"concept": "RadiographicSacroiliitis", "present": False})
    assert nr["NonRadiographicAxialSpaRule"] == "MET" and nr["AnkylosingSpondylitisRule"] == "NOT_MET"
    as_ = assess(*base, {"concept": "RadiographicSacroiliitis"})
    assert as_["AnkylosingSpondylitisRule"] == "MET" and as_["NonRadiographicAxialSpaRule"] == "NOT_MET"
    unknown_xray = assess(*base)
    assert unknown_xray["NonRadiographicAxialSpaRule"] == unknown_xray["AnkylosingSpondylitisRule"] == "UNDETERMINED"


def test_modified_new_york(assess):
    assert assess({"concept": "RadiographicSacroiliitis"}, {"concept": "LimitedChestExpansion"})["ModifiedNewYorkCriteria"] == "MET"
    assert assess({"concept": "RadiographicSacroiliitis", "present": False})["ModifiedNewYorkCriteria"] == "NOT_MET"


MECHANICAL_ONLY = [{"concept": "SuddenOnset"}, {"concept": "ImprovementWithRest"}, {"concept": "WorseningWithActivity"},
                   {"concept": "MorningStiffness", "present": False}, {"concept": "NightPain", "present": False},
                   {"concept": "ImprovementWithExercise", "present": False}, {"concept": "Psoriasis", "present": False},
                   {"concept": "InflammatoryBowelDisease", "present": False}, {"concept": "Uveitis", "present": False}]


def test_article_referral_each_inflammatory_reason(assess):
    assert assess({"concept": "BackPain"}, {"concept": "NightPain"})["ArticleReferralAdvice"] == "MET"
    assert assess({"concept": "BackPain"}, {"concept": "CrohnsDisease"})["ArticleReferralAdvice"] == "MET"
    assert assess({"concept": "BackPain"}, {"concept": "MorningStiffness", "durationMinutes": 45})[
        "ArticleReferralAdvice"] == "MET"
    assert assess({"concept": "BackPain", "present": False})["ArticleReferralAdvice"] == "NOT_MET"


@pytest.mark.parametrize("onset", [20, 25, 39, 63, 80])
@pytest.mark.parametrize("crp", [None, True, False])
def test_a_purely_mechanical_pattern_is_never_referred_at_any_age_whatever_the_bloods(assess, onset, crp):
    bloods = [] if crp is None else [{"concept": "ElevatedCRP", "present": crp}]
    out = assess({"concept": "BackPain", "ageAtOnset": onset, "durationMonths": 24}, *MECHANICAL_ONLY, *bloods)
    assert out["ArticleReferralAdvice"] == "NOT_MET"


def test_normal_bloods_never_count_for_or_against_the_articles_referral(assess):
    chronic = {"concept": "BackPain", "ageAtOnset": 63, "durationMonths": 24}
    assert assess(chronic, {"concept": "ElevatedCRP", "present": False})["ArticleReferralAdvice"] == "UNDETERMINED"
    for crp in (True, False):
        out = assess(chronic, {"concept": "NightPain"}, {"concept": "ElevatedCRP", "present": crp})
        assert out["ArticleReferralAdvice"] == "MET"


def test_asas_referral(assess):
    assert assess(CHRONIC_YOUNG, {"concept": "Enthesitis"})["AsasReferralRecommendation"] == "MET"


def test_mri_advice_for_younger_patients_with_persistent_inflammatory_symptoms(assess):
    persistent = {"concept": "BackPain", "ageAtOnset": 25, "durationMonths": 6}
    out = assess(persistent, {"concept": "InsidiousOnset"}, {"concept": "NightPain"})
    assert out["MriSacroiliacJointsAdvice"] == "MET"  # pattern undetermined, X-ray not done
    assert assess(persistent, {"concept": "InsidiousOnset"}, {"concept": "NightPain"},
                  {"concept": "RadiographicSacroiliitis"})["MriSacroiliacJointsAdvice"] == "NOT_MET"
    assert assess(persistent)["MriSacroiliacJointsAdvice"] == "UNDETERMINED"  # no feature known yet
    # a week of pain is not persistent; pain that began at 72 is not a younger patient's
    assert assess({"concept": "BackPain", "ageAtOnset": 25, "durationMonths": 0.25}, {"concept": "InsidiousOnset"})[
        "MriSacroiliacJointsAdvice"] == "NOT_MET"
    assert assess({"concept": "BackPain", "ageAtOnset": 72, "durationMonths": 6}, {"concept": "NightPain"})[
        "MriSacroiliacJointsAdvice"] == "NOT_MET"
    assert assess({"concept": "BackPain"}, {"concept": "InsidiousOnset"})["MriSacroiliacJointsAdvice"] == "UNDETERMINED"


# ---------------------------------------------------------------- clinical honesty
CLASSIFYING = ("AsasAxialSpaCriteria", "NonRadiographicAxialSpaRule", "AnkylosingSpondylitisRule",
               "ModifiedNewYorkCriteria", "AsasIbpCriteria", "BerlinIbpCriteria", "CalinIbpCriteria")


def test_hla_b27_alone_classifies_nothing(assess):
    out = assess({"concept": "HLAB27Positive"})
    assert [r for r, s in out.items() if s == "MET"] == []
    with_pain = assess(CHRONIC_YOUNG, {"concept": "HLAB27Positive"})
    assert all(with_pain[r] != "MET" for r in CLASSIFYING)


@pytest.mark.parametrize("negative", ["HLAB27Positive", "ElevatedCRP"])
def test_negative_hla_b27_or_normal_bloods_never_make_a_rule_fail_on_their_own(assess, negative):
    baseline = assess(CHRONIC_YOUNG)
    with_negative = assess(CHRONIC_YOUNG, {"concept": negative, "present": False})
    for rule, status in with_negative.items():
        if status == "NOT_MET":
            assert baseline[rule] == "NOT_MET", f"{negative} absent alone made {rule} fail"


def test_unknown_is_never_read_as_absent(knowledge, assess):
    assert set(assess().values()) == {"UNDETERMINED"}
    # nothing stated about rest: "no improvement with rest" stays undetermined, never met
    a = Assessment(knowledge, knowledge.facts.patient([CHRONIC_YOUNG, {"concept": "InsidiousOnset"}]))
    d = {i["rule"]: i for i in assessment_dict(a)["inferences"]}
    items = {i["item"]: i for i in d["AsasIbpCriteria"]["explanation"]["items"]}
    assert items["AsasIbp-noImprovementWithRest"]["status"] == "UNDETERMINED"
    assert items["AsasIbp-noImprovementWithRest"]["finding"]["state"] == "unknown"
    assert d["AsasIbpCriteria"]["status"] == "UNDETERMINED"


def test_every_assessment_carries_the_articles_disclaimer(knowledge):
    d = assessment_dict(Assessment(knowledge, knowledge.facts.patient([CHRONIC_YOUNG])))
    assert d["disclaimer"].startswith("Please note, these posts are for general information only")
    assert d["disclaimer"] in knowledge.article.text
    assert "not a diagnosis" in d["note"]


# ---------------------------------------------------------------- proofs
def test_proof_names_facts_nested_conclusions_and_sources(knowledge):
    a = Assessment(knowledge, knowledge.facts.patient([CHRONIC_YOUNG, *IBP_FEATURES, {"concept": "HLAB27Positive"},
                                                       {"concept": "Psoriasis"}], "p1"))
    d = {i["rule"]: i for i in assessment_dict(a)["inferences"]}
    ibp = d["AsasIbpCriteria"]
    assert ibp["summary"].startswith("Inflammatory back pain by ASAS criteria: met — 5 of 5 items met (needs 4)")
    assert ibp["explanation"]["sources"][0]["citation"].startswith("Sieper J")
    rest = next(i for i in ibp["explanation"]["items"] if i["item"] == "AsasIbp-noImprovementWithRest")
    assert rest["status"] == "MET"
    assert rest["finding"]["statedBy"] == [{"concept": "WorseningWithRest", "present": True}]  # via disjointness
    axspa = d["AsasAxialSpaCriteria"]["explanation"]
    clinical = next(i for i in axspa["items"] if i["item"] == "AsasAxSpa-clinicalArm")
    features = next(i for i in clinical["items"] if i["item"] == "AsasSpaFeaturesOtherThanHlaB27")
    ibp_feature = next(i for i in features["items"] if i["item"] == "SpaFeature-ibp")
    nested = next(i for i in ibp_feature["items"] if i["kind"] == "CONCLUSION")
    assert nested["conclusionOf"] == "AsasIbpCriteria" and nested["conclusionStatus"] == "MET"
    assert d["AsasIbpCriteria"]["status"] == "MET"  # the referenced proof is in the same list, not copied
    article = d["ArticleInflammatoryPattern"]["explanation"]["sources"][0]
    assert knowledge.article.text[article["start"]:article["end"]] == article["quote"]


def test_proof_as_prov_o(knowledge):
    a = Assessment(knowledge, knowledge.facts.patient([CHRONIC_YOUNG, *IBP_FEATURES], "p1"))
    g = Graph().parse(data=assessment_graph(a).serialize(format="turtle"), format="turtle")
    inferences = set(g.subjects(RDF.type, RULE.Inference))
    assert len(inferences) == len(knowledge.rules.rules)
    assert len(list(g.objects(None, PROV.wasDerivedFrom))) > 5
    assert any(True for _ in g.subject_objects(PROV.hadPrimarySource))


def test_next_questions_rank_what_would_settle_most_rules(knowledge):
    a = Assessment(knowledge, knowledge.facts.patient([{"concept": "BackPain"}]))
    questions = a.next_questions
    assert questions and all(q.settles for q in questions)
    assert [len(q.settles) for q in questions] == sorted((len(q.settles) for q in questions), reverse=True)
    assert ("BackPain", "durationMonths") in [(q.concept.id, q.quantity) for q in questions if q.concept]
    assert (None, "age") in [(q.concept, q.quantity) for q in questions]  # a number about the patient: Berlin's age
    assert all(knowledge.facts.patient([{"concept": "BackPain"}]).status_of(knowledge.facts.bit[q.concept.id]) is None
               for q in questions if q.quantity is None)


def test_rdf_facts_give_the_same_answer_as_json(knowledge, assess):
    turtle = """@prefix pt: <https://w3id.org/spakg/patient/> . @prefix spakg: <https://w3id.org/spakg/> .
    [] a pt:Patient ; pt:id "t1" ; pt:hasFinding
        [ pt:concept spakg:BackPain ; pt:ageAtOnset 25 ; pt:durationMonths 12 ],
        [ pt:concept spakg:InsidiousOnset ], [ pt:concept spakg:ImprovementWithExercise ],
        [ pt:concept spakg:WorseningWithRest ], [ pt:concept spakg:NightPainImprovesOnGettingUp ],
        [ pt:concept spakg:Psoriasis ; pt:present false ] ."""
    (facts,) = knowledge.facts.patients_from_rdf(turtle, "turtle")
    via_rdf = Assessment(knowledge, facts).statuses
    via_json = Assessment(knowledge, knowledge.facts.patient(
        [CHRONIC_YOUNG, *IBP_FEATURES, {"concept": "Psoriasis", "present": False}])).statuses
    assert facts.patient_id == "t1" and via_rdf == via_json


# ---------------------------------------------------------------- knowledge engineer
def test_threshold_edit_in_the_ontology_changes_behaviour_without_code(ontology_copy):
    patient = [CHRONIC_YOUNG, {"concept": "InsidiousOnset"}, {"concept": "ImprovementWithExercise"},
               {"concept": "NightPainImprovesOnGettingUp"}, {"concept": "ImprovementWithRest"}]  # 4 of 5
    before = Knowledge.load(ontology_copy)
    assert Assessment(before, before.facts.patient(patient)).statuses[before.rules.order.index(before.rules.get("AsasIbpCriteria"))] == 2
    rules = ontology_copy / "rules.ttl"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("rule:threshold 4 ;\n    rule:thresholdBasis \"publication: IBP if",
                                  "rule:threshold 5 ;\n    rule:thresholdBasis \"publication: IBP if"), encoding="utf-8")
    after = Knowledge.load(ontology_copy)
    rule = after.rules.get("AsasIbpCriteria")
    assert rule.needed == 5
    assert Assessment(after, after.facts.patient(patient)).statuses[after.rules.order.index(rule)] == 0


def test_rule_cycle_is_rejected_at_load_time(ontology_copy):
    (ontology_copy / "cycle.ttl").write_text("""@prefix spakg: <https://w3id.org/spakg/> .
@prefix rule: <https://w3id.org/spakg/rule/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
spakg:LoopA a rule:Rule ; rdfs:label "A" ; rule:concludes spakg:BackPain ; dcterms:bibliographicCitation "x" ;
    rule:item [ a rule:ConclusionItem ; rdfs:label "b" ; rule:conclusionOf spakg:LoopB ] .
spakg:LoopB a rule:Rule ; rdfs:label "B" ; rule:concludes spakg:BackPain ; dcterms:bibliographicCitation "x" ;
    rule:item [ a rule:ConclusionItem ; rdfs:label "a" ; rule:conclusionOf spakg:LoopA ] .
""", encoding="utf-8")
    with pytest.raises(OntologyError, match="Rule cycle"):
        Knowledge.load(ontology_copy)


def test_unreachable_threshold_is_rejected_at_load_time(ontology_copy):
    rules = ontology_copy / "rules.ttl"
    rules.write_text(rules.read_text(encoding="utf-8").replace("rule:threshold 4 ;", "rule:threshold 9 ;", 1),
                     encoding="utf-8")
    with pytest.raises(OntologyError, match="no patient could meet it"):
        Knowledge.load(ontology_copy)


def _naive_next_questions(k, findings):
    """Every unknown class an undetermined rule names (through the rules it reads too), tried present and absent by
    rebuilding the patient: the slow, obvious way. (Broader classes no item names, "any imaging finding", are not
    questions a clinician asks.)"""
    base = Assessment(k, k.facts.patient(findings))
    undetermined = {r.id for r, s in zip(k.rules.order, base.statuses, strict=True) if s == 1}
    named = {c.id: c for rule in k.rules.order if rule.id in undetermined for c in rule.findings()}
    out = {}
    for concept in named.values():
        if base.facts.status_of(k.facts.bit[concept.id]) is not None:
            continue
        settled = set()
        for present in (True, False):
            try:
                trial = Assessment(k, k.facts.patient([*findings, {"concept": concept.id, "present": present}]))
            except ContradictoryFacts:
                continue
            settled |= {r.id for r, s in zip(k.rules.order, trial.statuses, strict=True) if r.id in undetermined and s != 1}
        if settled:
            out[concept.id] = settled
    return out


def test_next_questions_are_exactly_the_findings_that_would_settle_a_rule(knowledge):
    import random

    from spakg.synth import random_facts

    rng = random.Random(5)
    checked = 0
    while checked < 150:
        findings = random_facts(knowledge, rng, 1, 12)
        try:
            a = Assessment(knowledge, knowledge.facts.patient(findings))
        except ContradictoryFacts:
            continue
        checked += 1
        fast = {q.concept.id: {r.id for r in q.settles} for q in a.next_questions if q.quantity is None}
        assert fast == _naive_next_questions(knowledge, findings), findings


def test_plain_night_pain_leaves_the_criteria_items_open_and_the_next_questions_ask_for_them(knowledge):
    findings = [CHRONIC_YOUNG, {"concept": "InsidiousOnset"}, {"concept": "ImprovementWithExercise"}, {"concept": "NightPain"},
                {"concept": "MorningStiffness", "durationMinutes": 60}]
    a = Assessment(knowledge, knowledge.facts.read({"age": 26, "findings": findings}))
    d = {i["rule"]: i for i in assessment_dict(a)["inferences"]}
    night = next(i for i in d["AsasIbpCriteria"]["explanation"]["items"] if i["item"] == "AsasIbp-nightPain")
    assert night["status"] == "UNDETERMINED" and night["finding"]["state"] == "unknown"
    asked = {q.concept.id: {r.id for r in q.settles} for q in a.next_questions if q.concept and not q.quantity}
    assert "AsasIbpCriteria" in asked["NightPainImprovesOnGettingUp"]
    assert "BerlinIbpCriteria" in asked["AwakeningSecondHalfOfNight"]  # with the stiffness, one more Berlin item


def test_no_night_pain_means_neither_of_its_forms(knowledge):
    facts = knowledge.facts.patient([{"concept": "NightPain", "present": False}])
    for form in ("NightPainImprovesOnGettingUp", "AwakeningSecondHalfOfNight"):
        assert facts.status_of(knowledge.facts.bit[form]) is False


def test_cross_references_say_how_close_they_are(knowledge):
    as_ = {x.code: x for x in knowledge.concepts.get("AnkylosingSpondylitis").xrefs}
    assert as_["ICD10CM:M45"].match == "BROAD" and "M45.A" in as_["ICD10CM:M45"].note
    assert as_["ICD10WHO:M45"].match == "EXACT" and as_["MONDO:0005306"].match == "EXACT"
    assert as_["SCTID:9631008"].url == "https://browser.ihtsdotools.org/?perspective=full&conceptId1=9631008"
    [hp] = knowledge.concepts.get("Sacroiliitis").xrefs
    assert hp.code == "HP:0012317" and hp.match == "CLOSE"


def test_the_fast_outcomes_agree_with_the_full_proof_on_random_patients(knowledge):
    """The outcomes function shares items that compute the same thing; the proof vector computes every item."""
    from spakg.bench import cohort

    rules = knowledge.rules
    for findings in cohort(knowledge, 3000, seed=11):
        facts = knowledge.facts.patient(findings)
        proof = rules.prove(facts)
        assert rules.decide(facts) == tuple(proof.status(r) for r in rules.order)


def test_the_json_proof_tree_is_the_step_tree_for_many_patients(knowledge):
    """The JSON renderer reads the proof vector directly (and renders a subtree no stated fact reaches once, for every
    patient): item by item it must say what the Step objects say, for patients rich and sparse in facts."""
    import random

    from spakg.rules import STATUS_NAMES, FindingItem, Group
    from spakg.synth import clinic_patient, random_patient

    def same(step, entry, path):
        assert entry.get("item", entry.get("rule")) == step.item.id, path
        assert entry["status"] == STATUS_NAMES[step.status], path
        if isinstance(step.item, Group):
            body = entry.get("explanation", entry)
            assert (body["met"], body["possible"]) == (step.met, step.possible), path
            for child, sub in zip(step.children, body["items"], strict=True):
                same(child, sub, f"{path}/{child.item.id}")
            for req, sub in zip(step.requires, body.get("requires", []), strict=True):
                same(req, sub, f"{path}/{req.item.id}")
        elif isinstance(step.item, FindingItem):
            use = Assessment(knowledge, facts).fact_use(step.item)
            assert entry["finding"]["state"] == {True: "present", False: "absent", None: "unknown"}[use.present], path

    rng = random.Random(11)
    for n in range(120):
        findings = random_patient(knowledge, rng, 0, 8) if n % 2 else clinic_patient(knowledge, rng, n)["findings"]
        facts = knowledge.facts.patient(findings)
        a = Assessment(knowledge, facts)
        for step, entry in zip(a.steps, assessment_dict(a, questions=False)["inferences"], strict=True):
            same(step, entry, step.item.id)


def test_the_lanes_function_decides_every_variant_as_the_outcomes_function_does(knowledge):
    """Next questions decide many variants of a patient at once, a bit per variant; each variant's statuses, read back
    from the lanes, must be what deciding that variant alone gives (groups counted over lanes included)."""
    import random

    from spakg.bench import cohort
    from spakg.logic import Inconsistent

    compiled, closure = knowledge.rules.compiled, knowledge.facts.closure
    rng = random.Random(3)
    checked = 0
    for findings in cohort(knowledge, 300, seed=5):
        facts = knowledge.facts.patient(findings)
        variants = []
        for _ in range(rng.randint(1, 70)):
            lp, la = closure.lit[rng.randrange(2 * closure.kept)]
            try:
                variants.append(closure.extend(facts.present, facts.absent, lp, la))
            except Inconsistent:
                continue
        lanes_p, lanes_a = [0] * closure.kept, [0] * closure.kept
        for t, (p, a) in enumerate(variants):
            for b in range(closure.kept):
                lanes_p[b] |= (p >> b & 1) << t
                lanes_a[b] |= (a >> b & 1) << t
        decided = compiled.lanes(lanes_p, lanes_a, facts.quantities, (1 << len(variants)) - 1)
        for t, (p, a) in enumerate(variants):
            alone = compiled.outcomes(p, a, facts.quantities)
            assert tuple(2 if decided[2 * r] >> t & 1 else 0 if decided[2 * r + 1] >> t & 1 else 1
                         for r in range(len(alone))) == alone, (findings, t)
            checked += 1
    assert checked > 5000


def test_next_questions_are_the_same_with_and_without_the_lanes_function(knowledge, monkeypatch):
    """A rule with fractional weights cannot be counted over lanes; then every answer is tried one at a time."""
    from spakg.bench import cohort

    def asked():
        return [[(q.concept.id if q.concept else None, q.quantity, tuple(r.id for r in q.settles))
                 for q in Assessment(knowledge, knowledge.facts.patient(p)).next_questions] for p in patients]

    patients = cohort(knowledge, 300, seed=9)
    with_lanes = asked()
    monkeypatch.setattr(knowledge.rules.compiled, "lanes", None)
    assert asked() == with_lanes
    assert sum(map(len, with_lanes)) > 1000


def test_a_fractional_weight_decides_answers_one_at_a_time(ontology_copy):
    """Lanes count whole weights only; with a weight of 1.5 the next questions take the one-answer-at-a-time path and
    still name exactly the findings that settle a rule."""
    rules = ontology_copy / "rules.ttl"
    text = rules.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("spakg:Amor-dactylitis "))
    rules.write_text(text.replace(line, line.replace("rule:weight 2 ;", "rule:weight 1.5 ;")), encoding="utf-8")
    k = Knowledge.load(ontology_copy)
    assert k.rules.compiled.lanes is None and k.rules.compiled.lanes_source == ""
    findings = [{"concept": "InflammatoryBackPain"}, {"concept": "Dactylitis"}, {"concept": "Uveitis", "present": False}]
    a = Assessment(k, k.facts.patient(findings))
    assert {q.concept.id: {r.id for r in q.settles} for q in a.next_questions if q.quantity is None} == \
        _naive_next_questions(k, findings)


def test_one_rule_entry_is_the_same_as_in_the_whole_assessment(knowledge):
    """The explorer renders one rule at a time, an assessment all of them at once: two generated writers, one JSON."""
    from spakg.bench import cohort
    from spakg.proof import assessment_dict, inference_dict

    for findings in cohort(knowledge, 60, seed=4):
        a = Assessment(knowledge, knowledge.facts.patient(findings))
        whole = assessment_dict(a, questions=False)["inferences"]
        assert [inference_dict(a, r) for r in knowledge.rules.order] == whole


def test_a_patient_without_numbers_is_decided_by_the_variant_compiled_for_them_as_by_the_general_code(knowledge):
    """Most patients give no number; their comparisons are worked out once, when the rules are compiled. For every such
    patient the plain variants must say what the general functions say of the same numbers."""
    from spakg.bench import cohort

    compiled, plain = knowledge.rules.compiled, knowledge.facts.plain_values
    seen = 0
    for findings in cohort(knowledge, 3000, seed=17):
        facts = knowledge.facts.patient(findings)
        if facts.quantities is not plain:
            continue
        seen += 1
        general = dict(plain)  # the same numbers, not the object the rule book recognises
        assert compiled.outcomes_plain(facts.present, facts.absent, plain) == \
            compiled.outcomes(facts.present, facts.absent, general)
        assert compiled.vector_plain(facts.present, facts.absent, plain) == \
            compiled.vector(facts.present, facts.absent, general)
    assert seen > 1500
    with_numbers = knowledge.facts.patient([{"concept": "BackPain", "ageAtOnset": 30}])
    assert with_numbers.quantities is not plain  # a number given: the general code decides
