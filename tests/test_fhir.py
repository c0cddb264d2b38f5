"""Issue 13: FHIR R4 Bundles as patients — the same outcomes as the vignettes, nothing dropped without a reason."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from spakg.errors import ContradictoryFacts, InvalidFacts, SpakgError
from spakg.fhir.assess import assess_bundle
from spakg.fhir.writer import bundle_from_record
from spakg.rules import STATUS_NAMES
from spakg.vignettes import load_vignettes
from spakg.web.patient_query import patient_from_query, query_from_patient

ROOT = Path(__file__).resolve().parent.parent
HAND_WRITTEN = sorted((ROOT / "tests" / "fhir").glob("*.json"))
VIGNETTES = {v.id: v for v in load_vignettes(ROOT / "tests" / "vignettes")}
AS_OF = date(2026, 11, 29)
SPAKG = "https://w3id.org/spakg"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def outcomes(knowledge, a) -> dict[str, str]:
    return {r.id: STATUS_NAMES[s] for r, s in zip(knowledge.rules.order, a.statuses, strict=True)}


def bundle(*resources: dict, patient: dict | None = None, **extra) -> dict:
    pt = patient if patient is not None else {"resourceType": "Patient", "id": "p", "birthDate": "1996-05-20",
                                              "gender": "male"}
    entries = ([pt] if pt else []) + [{"subject": {"reference": "Patient/p"}, **r} for r in resources]
    return {"resourceType": "Bundle", "type": "collection", "timestamp": "2026-11-29T00:00:00Z",
            "entry": [{"resource": r} for r in entries], **extra}


def condition(rid: str, system: str, code: str, verification: str | None = "confirmed", **extra) -> dict:
    c = {"resourceType": "Condition", "id": rid, "code": {"coding": [{"system": system, "code": code}]}, **extra}
    if verification:
        c["verificationStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": verification}]}
    return c


def observation(rid: str, system: str, code: str, status: str = "final", **extra) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": status,
            "code": {"coding": [{"system": system, "code": code}]}, **extra}


def crp(rid: str, value, unit: str, flag: str | None = None, when: str = "2026-11-01") -> dict:
    extra = {"interpretation": [{"coding": [{"code": flag}]}]} if flag else {}
    return observation(rid, LOINC, "1988-5", effectiveDateTime=when,
                       valueQuantity={"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
                       **extra)


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=[p.stem for p in HAND_WRITTEN])
def test_a_hand_written_bundle_decides_every_rule_as_its_vignette(knowledge, path):
    a = assess_bundle(knowledge, json.loads(path.read_text()))
    assert outcomes(knowledge, a) == VIGNETTES[path.stem].outcomes(knowledge)
    for f, refs in zip(a.origin.record["findings"], a.origin.origins, strict=True):
        assert refs and all("/" in r for r in refs), f


@pytest.mark.parametrize("vid", sorted(VIGNETTES))
def test_every_vignette_written_as_a_bundle_reads_back_to_the_same_outcomes(knowledge, vid):
    v = VIGNETTES[vid]
    a = assess_bundle(knowledge, bundle_from_record(knowledge, v.patient, AS_OF))
    assert outcomes(knowledge, a) == v.outcomes(knowledge)
    assert a.origin.unused == []


def test_calendar_dates_give_the_vignettes_numbers(knowledge):
    a = assess_bundle(knowledge, json.loads((ROOT / "tests/fhir/negative-hla-b27-normal-bloods.json").read_text()))
    back = next(f for f in a.origin.record["findings"] if f["concept"] == "BackPain")
    assert (back["ageAtOnset"], back["durationMonths"], a.origin.record["age"]) == (26, 36, 29)
    assert a.origin.record["measurements"] == {"CrpMgPerL": 3.0}  # 0.3 mg/dL
    assert a.origin.resources_for("ElevatedCRP", False) == ["Observation/crp"]
    assert a.origin.resources_for("HLAB27Positive", False) == ["Observation/hla-b27"]


def test_unknown_codes_refuted_conditions_and_mg_per_dl_are_read_as_fhir_means_them(knowledge):
    b = bundle(
        condition("bp", SPAKG, "BackPain", onsetDateTime="2025-01-10"),
        condition("pso", SNOMED, "9014002", clinicalStatus={"coding": [{"code": "active"}]}),
        condition("ibd", SNOMED, "24526004", "refuted"),
        condition("uv", SNOMED, "128473001", "provisional"),
        condition("ra", SNOMED, "69896004"),                       # not a code spakg knows
        condition("err", SNOMED, "9631008", "entered-in-error"),
        observation("hla", SPAKG, "HLAB27Positive", status="preliminary"),
        crp("crp-old", 30, "mg/L", "H", when="2025-02-01"),
        crp("crp", 1.2, "mg/dL", "H"),
        crp("crp-mmol", 5, "mmol/L", when="2024-01-01"),
        {"resourceType": "Observation", "id": "broken", "status": "final"},  # no code: not valid R4
        {"resourceType": "AllergyIntolerance", "id": "peanut", "patient": {"reference": "Patient/p"}},
        observation("other", SPAKG, "InsidiousOnset", subject={"reference": "Patient/someone-else"}),
    )
    a = assess_bundle(knowledge, b)
    facts = {(f["concept"], f["present"]) for f in a.origin.record["findings"]}
    assert {("BackPain", True), ("CurrentPsoriasis", True), ("InflammatoryBowelDisease", False),
            ("ElevatedCRP", True)} == facts
    assert a.origin.record["measurements"] == {"CrpMgPerL": 12.0}  # the latest result, converted from mg/dL
    reasons = {(u.resource, u.reason) for u in a.origin.unused}
    assert reasons == {
        ("Condition/uv", "NOT_CONFIRMED"), ("Condition/ra", "UNKNOWN_CODE"), ("Condition/err", "ENTERED_IN_ERROR"),
        ("Observation/hla", "NOT_FINAL"), ("Observation/crp-old", "SUPERSEDED"), ("Observation/crp-mmol", "UNIT_NOT_ACCEPTED"),
        ("Observation/broken", "INVALID_RESOURCE"), ("AllergyIntolerance/peanut", "UNSUPPORTED_RESOURCE"),
        ("Observation/other", "OTHER_PATIENT"),
    }
    unit = next(u for u in a.origin.unused if u.reason == "UNIT_NOT_ACCEPTED")
    assert "mmol/L" in unit.message and "mg/dL" in unit.message  # says which units would do
    broken = next(u for u in a.origin.unused if u.reason == "INVALID_RESOURCE")
    assert "code" in broken.message and "object at 0x" not in broken.message
    # unknown is not absent: the provisional uveitis is in neither the present nor the absent facts above


def test_a_broad_code_never_states_the_narrower_concept(knowledge):
    """ICD-10-CM M45 also holds non-radiographic axSpA: neither present nor refuted may it say 'ankylosing spondylitis'."""
    for verification in ("confirmed", "refuted"):
        a = assess_bundle(knowledge, bundle(condition("m45", "http://hl7.org/fhir/sid/icd-10-cm", "M45", verification)))
        assert a.origin.record["findings"] == []
        [u] = a.origin.unused
        assert u.reason == "LOOSE_MATCH" and "broader than AnkylosingSpondylitis" in u.message


def test_mondo_and_doid_snomed_codes_are_both_accepted_and_the_source_recorded(knowledge):
    for code, source in (("9631008", "MONDO"), ("156619005", "DOID")):
        a = assess_bundle(knowledge, bundle(condition("as", SNOMED, code)))
        assert [f["concept"] for f in a.origin.record["findings"]] == ["AnkylosingSpondylitis"]
        [note] = [n for n in a.origin.notes if n.reason == "CODE_SOURCE"]
        assert source in note.message


def test_laboratory_flags_and_reference_ranges_decide_raised_crp_and_nothing_else_does(knowledge):
    def elevated(**kw):
        a = assess_bundle(knowledge, bundle(observation("c", LOINC, "1988-5", **kw)))
        return {f["present"] for f in a.origin.record["findings"] if f["concept"] == "ElevatedCRP"}, a

    q = {"value": 8, "unit": "mg/L", "system": "http://unitsofmeasure.org", "code": "mg/L"}
    assert elevated(valueQuantity=q, referenceRange=[{"high": {"value": 5, "code": "mg/L"}}])[0] == {True}
    assert elevated(valueQuantity=q, referenceRange=[{"high": {"value": 10, "code": "mg/L"}}])[0] == {False}
    assert elevated(valueQuantity=q, interpretation=[{"coding": [{"code": "N"}]}])[0] == {False}
    none, a = elevated(valueQuantity=q)
    assert none == set() and a.origin.record["measurements"] == {"CrpMgPerL": 8.0}
    assert [n.reason for n in a.origin.notes] == ["NO_INTERPRETATION"]
    impossible, a = elevated(valueQuantity={**q, "value": 5000})
    assert impossible == set() and [u.reason for u in a.origin.unused] == ["IMPOSSIBLE_VALUE"]


def test_ages_and_durations_come_from_the_calendar(knowledge):
    b = bundle(condition("bp", SPAKG, "BackPain", onsetDateTime="2026-08-29"),
               patient={"resourceType": "Patient", "id": "p", "birthDate": "1986-11-29"})
    a = assess_bundle(knowledge, b)
    [back] = a.origin.record["findings"]
    assert (back["ageAtOnset"], back["durationMonths"], a.origin.record["age"]) == (39.75, 3, 40)
    assert outcomes(knowledge, a)["AsasIbpCriteria"] == "UNDETERMINED"  # onset before 40 is met; the rest unknown
    resolved = bundle(condition("bp", SPAKG, "BackPain", onsetDateTime="2020-01-15", abatementDateTime="2020-03-15",
                                clinicalStatus={"coding": [{"code": "resolved"}]}))
    [back] = assess_bundle(knowledge, resolved).origin.record["findings"]
    assert back["durationMonths"] == 2  # to the abatement, not to today


def test_contradictions_name_the_resources_that_state_them(knowledge):
    b = bundle(condition("a", SNOMED, "9631008"), condition("b", SNOMED, "9631008", "refuted"))
    with pytest.raises(ContradictoryFacts) as e:
        assess_bundle(knowledge, b)
    assert "Condition/a" in e.value.message and "Condition/b" in e.value.message


@pytest.mark.parametrize(("body", "fix"), [
    ({"resourceType": "Patient"}, "Bundle"),
    ({"resourceType": "Bundle", "type": "history", "entry": []}, "collection, searchset, transaction, batch, document"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "x"}]}, "entry[0]"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", "id": "a"}},
                                                               {"resource": {"resourceType": "Patient", "id": "b"}}]},
     "one Bundle per patient"),
])
def test_a_bundle_that_cannot_be_read_is_refused_with_what_to_fix(knowledge, body, fix):
    with pytest.raises(InvalidFacts) as e:
        assess_bundle(knowledge, body)
    assert fix in e.value.message


def test_the_explorer_permalink_holds_the_same_patient(knowledge):
    a = assess_bundle(knowledge, json.loads((ROOT / "tests/fhir/established-ankylosing-spondylitis.json").read_text()))
    from urllib.parse import parse_qsl

    back = patient_from_query(dict(parse_qsl(query_from_patient(a.origin.record))))
    again = knowledge.facts.read(back)
    assert (again.present, again.absent) == (a.facts.present, a.facts.absent)


def test_spakg_assess_reads_a_bundle_file_and_reports_how_it_was_read(tmp_path):
    path = ROOT / "tests/fhir/past-psoriasis-symmetric-arthritis-rheumatoid-factor.json"
    out = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", str(path), "--detail", "outcomes"],
                         capture_output=True, text=True, check=True).stdout
    line = json.loads(out)
    assert line["CasparCriteria"] == "NOT_MET" and line["id"] == "pt-52f"
    assert line["fhir"]["unused"][0]["reason"] == "UNKNOWN_CODE"  # the ICD-10-CM translation spakg does not know
    lines = tmp_path / "bundles.jsonl"
    lines.write_text("\n".join(json.dumps(json.loads(p.read_text())) for p in HAND_WRITTEN) + "\n")
    out = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", str(lines), "--detail", "outcomes",
                          "--as-of", "2026-11-29"], capture_output=True, text=True, check=True).stdout
    assert len(out.splitlines()) == len(HAND_WRITTEN)


def test_an_error_keeps_its_code(knowledge):
    bad = copy.deepcopy(json.loads(HAND_WRITTEN[0].read_text()))
    bad["entry"][0]["resource"]["birthDate"] = "2030-01-01"
    with pytest.raises(SpakgError) as e:
        assess_bundle(knowledge, bad)
    assert e.value.code == "INVALID_VALUE" and "birthDate" in e.value.message


def test_the_prov_o_proof_names_the_resource_behind_each_fact(knowledge):
    from rdflib.namespace import DCTERMS

    from spakg.prov import assessment_graph

    a = assess_bundle(knowledge, json.loads((ROOT / "tests/fhir/established-ankylosing-spondylitis.json").read_text()))
    sources = {str(o) for o in assessment_graph(a).objects(None, DCTERMS.source)}
    assert {"Condition/uveitis", "Observation/hla-b27", "Condition/back-pain"} <= sources


def test_a_result_without_a_value_is_listed_once_and_states_nothing(knowledge):
    a = assess_bundle(knowledge, bundle(observation("c", LOINC, "1988-5", dataAbsentReason={"text": "haemolysed"})))
    assert a.origin.record["findings"] == [] and "measurements" not in a.origin.record
    assert [(u.resource, u.reason) for u in a.origin.unused] == [("Observation/c", "NO_VALUE")]
    assert a.origin.notes == []


def test_without_a_birth_date_an_onset_age_gives_no_duration_and_the_rule_waits(knowledge):
    """onsetAge alone says when the pain began, not how long ago: 'back pain for 3 months or more' stays unknown."""
    b = json.loads((ROOT / "tests/fhir/crohns-and-ulcerative-colitis.json").read_text())
    del b["entry"][0]["resource"]["birthDate"]
    a = assess_bundle(knowledge, b)
    [back] = [f for f in a.origin.record["findings"] if f["concept"] == "BackPain"]
    assert back == {"concept": "BackPain", "present": True, "ageAtOnset": 24.0}
    assert outcomes(knowledge, a)["AsasReferralRecommendation"] == "UNDETERMINED"
    assert VIGNETTES["crohns-and-ulcerative-colitis"].outcomes(knowledge)["AsasReferralRecommendation"] == "MET"


def test_a_laboratory_value_spakg_cannot_read_is_listed_not_dropped(knowledge):
    a = assess_bundle(knowledge, bundle(observation("c", LOINC, "1988-5", valueString="<5")))
    assert [(u.resource, u.reason) for u in a.origin.unused] == [("Observation/c", "VALUE_NOT_UNDERSTOOD")]
    a = assess_bundle(knowledge, bundle(crp("c", 4, "mmol/L")))
    assert [(u.resource, u.reason) for u in a.origin.unused] == [("Observation/c", "UNIT_NOT_ACCEPTED")]  # said once


def test_a_findings_value_of_another_kind_is_never_read_as_present(knowledge):
    a = assess_bundle(knowledge, bundle(observation("ms", SPAKG, "MorningStiffness", valueString="no")))
    assert a.origin.record["findings"] == []
    assert [(u.resource, u.reason) for u in a.origin.unused] == [("Observation/ms", "VALUE_NOT_UNDERSTOOD")]


def test_an_onset_in_words_is_noted_not_guessed(knowledge):
    a = assess_bundle(knowledge, bundle(condition("bp", SPAKG, "BackPain", onsetString="since her twenties")))
    assert a.origin.record["findings"] == [{"concept": "BackPain", "present": True}]
    assert [(n.resource, n.reason) for n in a.origin.notes] == [("Condition/bp", "ONSET_NOT_READ")]


def test_an_unknown_code_is_the_reason_given_before_an_unread_value(knowledge):
    a = assess_bundle(knowledge, bundle(observation("bp", LOINC, "85354-9", valueString="120/80")))
    assert [(u.reason, u.coding) for u in a.origin.unused] == [("UNKNOWN_CODE", "http://loinc.org|85354-9")]


def test_a_clinic_that_records_only_the_basdai_total_sends_it_as_a_measurement(knowledge):
    a = assess_bundle(knowledge, bundle(observation("b", SPAKG, "Basdai", valueQuantity={
        "value": 5.2, "system": "http://unitsofmeasure.org", "code": "{score}"})))
    assert a.origin.record["measurements"] == {"Basdai": 5.2} and a.origin.measured_by == {"Basdai": "Observation/b"}
    assert outcomes(knowledge, a)["BasdaiActiveDisease"] == "MET"
