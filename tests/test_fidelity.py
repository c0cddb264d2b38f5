"""Issue 22, clinical fidelity round 2: the bounds the facts imply, the criteria's applicability and wording, and the
referral advice's two readings (the vignettes hold each item's boundary patient; these hold the mechanisms)."""

from __future__ import annotations

import pytest

from spakg.assessment import Assessment
from spakg.errors import ContradictoryFacts
from spakg.rules import MET, NOT_MET, UNDETERMINED


def _status(knowledge, record: dict, rule: str) -> int:
    a = Assessment(knowledge, knowledge.facts.read(record))
    return a.statuses[knowledge.rules.order.index(knowledge.rules.get(rule))]


def _onset(knowledge, record: dict) -> tuple[float, float] | None:
    facts = knowledge.facts.read(record)
    slot = knowledge.facts.quantities.slot("ageAtOnset", knowledge.facts.index["BackPain"])
    return facts.quantities.get(slot)


def test_the_onset_is_bounded_by_the_age_and_the_duration(knowledge):
    low, high = _onset(knowledge, {"age": 40, "findings": [{"concept": "BackPain", "durationMonths": 12}]})
    assert low == 0 and 39 < high < 40  # began before 40: 39 at the latest in whole years
    _, high = _onset(knowledge, {"age": 40, "findings": [{"concept": "BackPain"}]})
    assert 40 < high < 41  # no duration: no later than the age itself
    assert _onset(knowledge, {"findings": [{"concept": "BackPain", "durationMonths": 12}]}) is None  # no age: no bound


@pytest.mark.parametrize("age, months, onset_before_40", [(40, 12, MET), (40, 11, UNDETERMINED), (41, 24, MET),
                                                          (41, 23, UNDETERMINED)])
def test_a_comparison_on_the_onset_uses_the_bound_at_its_edge(knowledge, age, months, onset_before_40):
    record = {"age": age, "findings": [{"concept": "BackPain", "durationMonths": months}, {"concept": "HLAB27Positive"}]}
    assert _status(knowledge, record, "AsasReferralRecommendation") == MET  # onset < 45 whichever
    facts = knowledge.facts.read(record)
    item = knowledge.rules.get("CalinIbpCriteria").items[0]
    assert item.id == "Calin-onsetBefore40"
    assert knowledge.rules.prove(facts).status(item) == onset_before_40


def test_an_onset_the_age_and_duration_rule_out_is_a_contradiction_both_ways(knowledge):
    for record in ({"age": 40, "findings": [{"concept": "BackPain", "durationMonths": 12, "ageAtOnset": 40}]},
                   {"age": 30, "findings": [{"concept": "InflammatoryBackPain", "durationMonths": 120,
                                             "ageAtOnset": 25}]}):
        with pytest.raises(ContradictoryFacts) as err:
            knowledge.facts.read(record)
        assert err.value.code == "CONTRADICTORY_FACTS" and "Correct the" in err.value.message
    facts = knowledge.facts.read({"age": 40, "findings": [{"concept": "BackPain", "durationMonths": 12,
                                                           "ageAtOnset": 39}]})
    assert facts.quantities[knowledge.facts.quantities.slot("ageAtOnset", knowledge.facts.index["BackPain"])] == \
        (39, 39)  # a stated onset is kept, not replaced by its bound


def test_an_onset_known_only_within_its_bound_is_still_asked_for(knowledge):
    def asked(age: int) -> set:
        record = {"age": age, "findings": [{"concept": "BackPain", "durationMonths": 12},
                                           {"concept": "InsidiousOnset"}, {"concept": "ImprovementWithExercise"}]}
        return {(q.concept.id if q.concept else None, q.quantity)
                for q in Assessment(knowledge, knowledge.facts.read(record)).next_questions}

    assert ("BackPain", "ageAtOnset") in asked(50)  # below 50 decides neither "< 45" nor "< 40"
    assert ("BackPain", "ageAtOnset") not in asked(40)  # below 40 decides both: nothing left to ask


def test_the_peripheral_criteria_apply_only_without_current_inflammatory_back_pain(knowledge):
    peripheral = [{"concept": "PeripheralArthritis"}, {"concept": "HeelEnthesitis"}, {"concept": "AnteriorUveitis"}]
    assert _status(knowledge, {"findings": [*peripheral, {"concept": "BackPain", "present": False}]},
                   "AsasPeripheralSpaCriteria") == MET
    assert _status(knowledge, {"findings": peripheral}, "AsasPeripheralSpaCriteria") == UNDETERMINED
    assert _status(knowledge, {"findings": [*peripheral, {"concept": "InflammatoryBackPain"}]},
                   "AsasPeripheralSpaCriteria") == NOT_MET
    # inflammatory back pain in the past is one of the 'two other' features; current IBP is not
    others = [{"concept": "PeripheralArthritis"}, {"concept": "HeelEnthesitis"},
              {"concept": "InflammatoryBackPain", "present": False}, {"concept": "BackPain", "present": False}]
    assert _status(knowledge, {"findings": [*others, {"concept": "PastInflammatoryBackPain"}]},
                   "AsasPeripheralSpaCriteria") == MET


def test_modified_new_york_reads_stiffness_not_morning_stiffness(knowledge):
    base = [{"concept": "RadiographicSacroiliitis"}, {"concept": "BackPain", "durationMonths": 24},
            {"concept": "ImprovementWithExercise"}, {"concept": "ImprovementWithRest", "present": False},
            {"concept": "LimitedLumbarSpineMotion", "present": False},
            {"concept": "LimitedChestExpansion", "present": False}]
    no_morning = {"concept": "MorningStiffness", "present": False}
    assert _status(knowledge, {"findings": [*base, no_morning]}, "ModifiedNewYorkCriteria") == UNDETERMINED
    assert _status(knowledge, {"findings": [*base, no_morning, {"concept": "BackStiffness"}]},
                   "ModifiedNewYorkCriteria") == MET
    assert _status(knowledge, {"findings": [*base, {"concept": "BackStiffness", "present": False}]},
                   "ModifiedNewYorkCriteria") == NOT_MET


def test_the_referral_advice_shows_both_readings_in_the_articles_words(knowledge):
    rule = knowledge.rules.get("ArticleReferralAdvice")
    text = " ".join(rule.notes)
    article = knowledge.article.text if hasattr(knowledge, "article") else None
    for words in ("starts before age 40 and lasts longer than 3 months", "persists despite normal blood tests",
                  "You should consider specialist assessment if back pain:"):
        assert f'"{words}"' in text
        if article is not None:
            assert words in article
    assert "Read literally" in text and "whom the advice is for" in text
