"""Issue 20: records no one here wrote. carebundle (a FHIR generator on PyPI) writes US Core transaction Bundles —
urn:uuid fullUrls, resources without ids, ICD-10-CM problem lists, LOINC panels — and Bulk Data NDJSON; its records
are used as it writes them (only the reference date is ours). Beside them: a Synthea-style transaction with a DELETE,
the CDS Hooks sandbox's "low back pain" patient, an inpatient-sized chart, and every code of the value sets."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import carebundle
import httpx
import pytest
from dateutil.relativedelta import relativedelta

from spakg.api.cdshooks import request_from_bundle
from spakg.fhir.assess import assess_bundle
from spakg.fhir.cards import cards_for
from spakg.fhir.reader import _months
from spakg.fhir.valuesets import MATCH_EXTENSION, value_sets
from spakg.rules import STATUS_NAMES
from support import running_server

AS_OF = date(2026, 11, 1)
SERVICE = "/cds-services/spakg-axspa"
SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CONFIRMED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]}


def carebundle_record(profile: str, seed: int) -> dict:
    return json.loads(carebundle.to_json(carebundle.generate_bundle(profile=profile, seed=seed, reference_date=AS_OF)))


def as_stored(bundle: dict) -> dict:
    """A transaction as a FHIR server stores it (what a CDS client then prefetches): each resource given the id its
    urn:uuid names, and references to it rewritten as Type/id."""
    ids = {e["fullUrl"]: (e["resource"]["resourceType"], e["fullUrl"].rsplit(":", 1)[1]) for e in bundle["entry"]}
    text = json.dumps(bundle)
    for url, (kind, rid) in ids.items():
        text = text.replace(f'"reference": "{url}"', f'"reference": "{kind}/{rid}"')
    stored = json.loads(text)
    for e in stored["entry"]:
        e["resource"]["id"] = ids[e["fullUrl"]][1]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e["resource"]} for e in stored["entry"]]}


@pytest.fixture(scope="module")
def server():
    with running_server() as base:
        yield base


def test_carebundle_transactions_are_read_whole_and_an_unrelated_chart_gets_no_card(knowledge):
    for profile in carebundle.PROFILES:
        for seed in range(4):
            b = carebundle_record(profile, seed)
            assert b["type"] == "transaction" and all("id" not in e["resource"] for e in b["entry"])
            a = assess_bundle(knowledge, b, AS_OF)
            reading = a.origin
            # the patient is found through its urn:uuid, its age and sex read; no resource is lost or misattributed
            assert reading.patient and reading.patient.startswith("urn:uuid:")
            assert "age" in reading.record and reading.record["sex"] in ("MALE", "FEMALE")
            named = {r for _, _, refs in reading.stated() for r in refs} | set(reading.measured_by.values()) | \
                    {u.resource for u in reading.unused}
            assert named >= {e["fullUrl"] for e in b["entry"] if e["resource"]["resourceType"] != "Patient"}
            assert not [u for u in reading.unused if u.reason in ("OTHER_PATIENT", "INVALID_RESOURCE")]
            assert {u.reason for u in reading.unused} <= {"UNKNOWN_CODE", "UNSUPPORTED_RESOURCE"}
            assert cards_for(a, "http://spakg.test") == [], (profile, seed)


def test_a_synthea_style_transaction_with_a_delete_and_no_ids_is_read(knowledge):
    pid = "urn:uuid:5d3c1d8e-0000-4000-8000-000000000001"
    b = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": pid, "resource": {"resourceType": "Patient", "birthDate": "1994-03-02", "gender": "female"},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:5d3c1d8e-0000-4000-8000-000000000002",
         "resource": {"resourceType": "Condition", "subject": {"reference": pid}, "verificationStatus": CONFIRMED,
                      "code": {"coding": [{"system": SNOMED, "code": "279039007", "display": "Low back pain"}]},
                      "onsetDateTime": "2024-01-15T09:30:00+01:00"},
         "request": {"method": "POST", "url": "Condition"}},
        {"request": {"method": "DELETE", "url": "Observation/old-crp"}},
        {"fullUrl": "urn:uuid:5d3c1d8e-0000-4000-8000-000000000003",
         "resource": {"resourceType": "Observation", "status": "final", "subject": {"reference": pid},
                      "code": {"coding": [{"system": LOINC, "code": "30522-7"}]},
                      "valueQuantity": {"value": 14, "unit": "mg/L", "system": "http://unitsofmeasure.org", "code": "mg/L"},
                      "interpretation": [{"coding": [{"code": "H"}]}], "effectiveDateTime": "2026-10-01"},
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    for kind in ("transaction", "batch"):
        reading = knowledge.fhir.read({**b, "type": kind}, AS_OF)
        stated = {f["concept"]: f for f in reading.record["findings"]}
        assert stated["BackPain"]["durationMonths"] == pytest.approx(33.5, abs=0.1)  # 15 Jan 2024 to 1 Nov 2026
        assert stated["ElevatedCRP"]["present"] is True and reading.record["measurements"] == {"CrpMgPerL": 14.0}
        assert reading.resources_for("BackPain", True) == ["urn:uuid:5d3c1d8e-0000-4000-8000-000000000002"]
        [skipped] = reading.unused
        assert (skipped.reason, skipped.resource) == ("NO_RESOURCE", "Bundle.entry[2]")
        assert "DELETE Observation/old-crp" in skipped.message
    document = {**b, "type": "document", "entry": [
        {"fullUrl": "urn:uuid:c0", "resource": {"resourceType": "Composition", "status": "final"}},
        *[e for e in b["entry"] if "resource" in e]]}
    reading = knowledge.fhir.read(document, AS_OF)
    assert {f["concept"] for f in reading.record["findings"]} == {"BackPain", "ElevatedCRP"}
    assert [(u.resource, u.reason) for u in reading.unused] == [("urn:uuid:c0", "UNSUPPORTED_RESOURCE")]


def test_the_sandbox_low_back_pain_patient_gets_the_asas_referral_warning(server, knowledge):
    """The CDS Hooks sandbox's record codes the problem as SNOMED CT 279039007 "Low back pain": with psoriasis and
    anterior uveitis in a 30-year-old whose pain began almost three years ago, the ASAS referral recommendation is met."""
    subject = {"reference": "Patient/sandbox-30f"}

    def problem(rid: str, code: str, display: str, **extra) -> dict:
        return {"resource": {"resourceType": "Condition", "id": rid, "subject": subject, "verificationStatus": CONFIRMED,
                             "clinicalStatus": {"coding": [{"code": "active"}]},
                             "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]}, **extra}}

    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Patient", "id": "sandbox-30f", "gender": "female",
                      "birthDate": (AS_OF - relativedelta(years=30)).isoformat()}},
        problem("lbp", "279039007", "Low back pain", onsetDateTime=(AS_OF - relativedelta(months=34)).isoformat()),
        problem("pso", "9014002", "Psoriasis"),
        problem("uv", "410692006", "Anterior uveitis")]}
    body = request_from_bundle(bundle, knowledge=knowledge)
    r = httpx.post(server + SERVICE, json=body, timeout=30)
    assert r.status_code == 200
    cards = r.json()["cards"]
    warning = next(c for c in cards if c["source"]["url"].endswith("/AsasReferralRecommendation"))
    assert warning["indicator"] == "warning" and "met" in warning["summary"]
    assert "Condition/lbp" in warning["detail"] and "Condition/uv" in warning["detail"]
    assert r.json()["extension"]["org.w3id.spakg.reading"]["unused"] == []


def test_an_unrelated_inpatient_with_a_raised_crp_gets_no_card_and_fits_the_service(server, knowledge):
    """A 92-year-old's long admission (carebundle's history: visits of vital signs and panels) with a hip fracture and
    a raised CRP: nothing in it makes referral plausible, so no card, whether the EHR filters by the prefetch
    template's codes or sends every observation (then well over the 256 KiB other routes take)."""
    history = json.loads(carebundle.to_json(carebundle.generate_history(
        profile="ckd_stage3", seed=92, visits=300, interval_days=1, reference_date=AS_OF, age_range=(90, 92))))
    record = as_stored(history)
    pid = next(e["resource"]["id"] for e in record["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": f"Patient/{pid}"}
    record["entry"] += [
        {"resource": {"resourceType": "Condition", "id": "hip", "subject": subject, "verificationStatus": CONFIRMED,
                      "code": {"coding": [{"system": ICD10CM, "code": "S72.001A"}], "text": "hip fracture"}}},
        {"resource": {"resourceType": "Observation", "id": "crp", "status": "final", "subject": subject,
                      "effectiveDateTime": AS_OF.isoformat(), "code": {"coding": [{"system": LOINC, "code": "1988-5"}]},
                      "valueQuantity": {"value": 86, "unit": "mg/L", "system": "http://unitsofmeasure.org", "code": "mg/L"},
                      "interpretation": [{"coding": [{"code": "H"}]}]}}]
    filtered = request_from_bundle(record, knowledge=knowledge)
    everything = request_from_bundle(record)
    assert len(json.dumps(everything)) > 256 * 1024 > 4 * len(json.dumps(filtered["prefetch"]["observations"]))
    for body in (filtered, everything):
        r = httpx.post(server + SERVICE, json=body, timeout=60)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["cards"] == []
        stated = r.json()["extension"]["org.w3id.spakg.reading"]["statedFrom"]
        assert {s["concept"] for s in stated} == {"ElevatedCRP"}
    assert filtered["prefetch"]["observations"]["total"] == 1  # only the CRP: the vital signs stay at the EHR


def test_every_code_of_the_served_value_sets_is_read_as_the_value_set_says(server, knowledge):
    listing = httpx.get(server + "/fhir/ValueSet", timeout=30)
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("application/fhir+json")
    sets = {e["resource"]["id"]: e["resource"] for e in listing.json()["entry"]}
    assert listing.json()["total"] == len(sets) == len(value_sets(knowledge))
    checked = 0
    for concept in (c for c in knowledge.concepts.by_id.values() if c.observable):
        vs = sets[concept.id]
        for include in vs["compose"]["include"]:
            system = include["system"]
            for entry in include.get("concept", ()):
                match = next(x["valueCode"] for x in entry["extension"] if x["url"] == MATCH_EXTENSION)
                assert concept.id in read_condition(knowledge, system, entry["code"], "confirmed"), (system, entry)
                absent = read_condition(knowledge, system, entry["code"], "refuted", present=False)
                assert (concept.id in absent) is (match == "exact"), (system, entry)
                checked += 1
            for f in include.get("filter", ()):
                below = f["value"] + ("9" if "." in f["value"] else ".9")  # a code below it: it, or a narrower class
                stated = [knowledge.concepts.get(c) for c in read_condition(knowledge, system, below, "confirmed")]
                assert any(c is concept or concept in c.ancestors for c in stated), (system, below)
                assert concept.id not in read_condition(knowledge, system, below, "refuted", present=False)
                checked += 1
        for exclude in vs["compose"].get("exclude", ()):
            for entry in exclude.get("concept", ()):  # known but not read as this concept
                assert concept.id not in read_condition(knowledge, exclude["system"], entry["code"], "confirmed")
    assert checked > 300
    # laboratory tests: each code gives its number or its finding
    for vid, vs in sets.items():
        if not vid.startswith("lab-"):
            continue
        for include in vs["compose"]["include"]:
            for entry in include["concept"]:
                lab = knowledge.fhir.codes.labs[(include["system"], entry["code"])]
                o = {"resourceType": "Observation", "id": "o", "status": "final",
                     "code": {"coding": [{"system": include["system"], "code": entry["code"]}]},
                     "interpretation": [{"coding": [{"code": "H"}]}]}
                if lab.quantity:
                    o["valueQuantity"] = {"value": 20, "unit": "mg/L", "system": "http://unitsofmeasure.org", "code": "mg/L"}
                else:
                    o["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "10828004"}]}
                reading = knowledge.fhir.read({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o}]},
                                              AS_OF)
                assert {(f["concept"], f["present"]) for f in reading.record["findings"]} == {(lab.states.id, True)}
                if lab.quantity:
                    assert reading.record["measurements"] == {lab.quantity: 20.0}


def read_condition(knowledge, system: str, code: str, verification: str, present: bool = True) -> set[str]:
    c = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
         "verificationStatus": {"coding": [{"code": verification}]}, "code": {"coding": [{"system": system, "code": code}]}}
    reading = knowledge.fhir.read({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": c}]}, AS_OF)
    return {f["concept"] for f in reading.record["findings"] if f["present"] is present}


def test_a_value_set_is_served_by_id_and_an_unknown_one_says_what_there_is(server):
    r = httpx.get(server + "/fhir/ValueSet/BackPain", timeout=10)
    assert r.status_code == 200 and r.json()["url"] == "https://w3id.org/spakg/fhir/ValueSet/BackPain"
    snomed = next(i for i in r.json()["compose"]["include"] if i["system"] == SNOMED)
    low = next(c for c in snomed["concept"] if c["code"] == "279039007")
    assert low["display"] == "Low back pain (finding)" and {"url": MATCH_EXTENSION, "valueCode": "narrower"} in low["extension"]
    assert any(x["valueCode"] == "broader" for e in r.json()["compose"].get("exclude", ()) for c in e["concept"]
               for x in c["extension"])  # dorsalgia: known, and said not to be read
    r = httpx.get(server + "/fhir/ValueSet/BackPian", timeout=10)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/fhir+json")
    issue = r.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "UNKNOWN_VALUE_SET" and "BackPain" in issue["diagnostics"]
    r = httpx.get(server + "/fhir/ValueSet", params={"url": "https://w3id.org/spakg/fhir/ValueSet/lab-CrpMgPerL"}, timeout=10)
    assert r.json()["total"] == 1
    codes = {c["code"] for i in r.json()["entry"][0]["resource"]["compose"]["include"] for c in i["concept"]}
    assert codes == {"1988-5", "30522-7"}


def test_carebundle_bulk_export_is_screened_on_dask_as_each_patient_s_resources_read_together(tmp_path, knowledge):
    import pandas as pd

    from spakg.screen import screen

    cohort = carebundle.generate_cohort(count=40, seed=11, reference_date=AS_OF)
    export = tmp_path / "export"
    export.mkdir()
    ndjson = carebundle.to_ndjson(cohort)
    for kind, text in ndjson.items():
        (export / f"{kind}.ndjson").write_text(text, encoding="utf-8")
    run = screen(export, tmp_path / "out", workers=2, as_of=AS_OF)
    assert run.patients == 40
    frame = pd.read_parquet(tmp_path / "out")
    assert frame["error"].isna().all() and frame["id"].nunique() == 40
    by_id = frame.set_index("id")
    # the same answers as the export regrouped here the plain way (every line parsed), each patient read on its own
    mine: dict[str, list] = {}
    for text in ndjson.values():
        for line in text.splitlines():
            r = json.loads(line)
            key = r["id"] if r["resourceType"] == "Patient" else (r.get("subject") or r.get("patient") or {}).get(
                "reference", "").removeprefix("Patient/")
            if key:
                mine.setdefault(key, []).append({"resource": r})
    assert set(mine) == set(by_id.index)
    for pid, entries in mine.items():
        a = assess_bundle(knowledge, {"resourceType": "Bundle", "type": "collection", "entry": entries}, AS_OF)
        assert {r.id: STATUS_NAMES[s] for r, s in zip(knowledge.rules.order, a.statuses, strict=True)} == \
            {r.id: str(by_id.loc[pid, r.id]) for r in knowledge.rules.order}, pid


def test_the_reader_s_calendar_months_are_dateutil_s(knowledge):
    rng = random.Random(20)
    for _ in range(20_000):
        start = date(1900, 1, 1) + timedelta(days=rng.randrange(0, 110_000))
        end = start + timedelta(days=rng.randrange(0, 40_000))
        d = relativedelta(end, start)
        whole = d.years * 12 + d.months
        anchor = start + relativedelta(months=whole)
        expected = whole + d.days / ((anchor + relativedelta(months=1)) - anchor).days
        assert _months(start, end) == pytest.approx(expected, abs=1e-12), (start, end)


def test_only_the_fields_spakg_reads_are_checked(knowledge):
    subject = {"reference": "Patient/p"}
    odd = {"resourceType": "Observation", "id": "odd", "status": "final", "subject": subject,
           "code": {"coding": [{"system": LOINC, "code": "1988-5"}]}, "note": 5, "method": "not a CodeableConcept",
           "valueQuantity": {"value": 3, "unit": "mg/L", "code": "mg/L"}}
    bad = {**odd, "id": "bad", "valueQuantity": {"value": "3", "unit": "mg/L"}}
    worse = {**odd, "id": "worse", "effectiveDateTime": "2026-13-01"}
    reading = knowledge.fhir.read({"resourceType": "Bundle", "type": "collection",
                                   "entry": [{"resource": r} for r in (odd, bad, worse)]}, AS_OF)
    assert reading.record["measurements"] == {"CrpMgPerL": 3.0}  # a malformed field spakg never reads hides nothing
    invalid = {u.resource: u.message for u in reading.unused if u.reason == "INVALID_RESOURCE"}
    assert set(invalid) == {"Observation/bad", "Observation/worse"}
    assert "Observation.valueQuantity.value: not a number" in invalid["Observation/bad"]
    assert "Observation.effectiveDateTime" in invalid["Observation/worse"]
