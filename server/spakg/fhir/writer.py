"""A spakg patient record written as a FHIR R4 Bundle: the vignettes' FHIR forms in the tests, synthetic Bundles for
benchmarks and for cohorts of Bundles.

Diseases become Conditions (confirmed or refuted), other findings Observations; each is coded as an EHR would code
it where the value sets have a public code that states exactly it (SNOMED CT first; a narrower code such as "low
back pain" for a back pain that is present), else in spakg's own code system. A finding the ontology splits by
clinical status (current psoriasis, a history of it) is written as the broader code with that status, as a problem
list records it. Dates are laid out so that the reader gives the
record's numbers back: the back pain began ``durationMonths`` before ``as_of``, the patient was born
``ageAtOnset`` years before that (or ``age`` years before ``as_of``); when the record's age is past the pain's onset
plus its duration, the pain is written as resolved at that point, which is the only way the three numbers agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from dateutil.relativedelta import relativedelta

from ..concepts import Concept
from ..knowledge import Knowledge

UCUM = "http://unitsofmeasure.org"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def bundle_from_record(knowledge: Knowledge, record: Mapping, as_of: date, *, patient_id: str | None = None) -> dict:
    book = knowledge.fhir.codes
    pid = str(patient_id or record.get("id") or "patient")
    entries: list[dict] = []
    patient: dict = {"resourceType": "Patient", "id": pid}
    subject = {"reference": f"Patient/{pid}"}
    birth = None
    onset_finding = next((f for f in record.get("findings", ()) if f.get("present", True) and "ageAtOnset" in f
                          and "durationMonths" in f), None)
    age = record.get("age")
    ended = None  # when the back pain stopped, if the record's age is past its onset plus its duration
    if onset_finding is not None:
        onset = as_of - _months(onset_finding["durationMonths"])
        birth = onset - _months(onset_finding["ageAtOnset"] * 12)
        if age is not None and (as_of - _months(age * 12)) < birth - relativedelta(days=1):
            birth = as_of - _months(age * 12)
            onset = birth + _months(onset_finding["ageAtOnset"] * 12)
            ended = onset + _months(onset_finding["durationMonths"])
    elif age is not None:
        birth = as_of - _months(age * 12)
    if birth is not None:
        patient["birthDate"] = birth.isoformat()
    if record.get("sex"):
        patient["gender"] = str(record["sex"]).lower()
    entries.append(patient)
    # current psoriasis is written as psoriasis, active; a history of it as psoriasis, resolved
    split = {c.id: (broad, "active") for broad, c in book.when_active.items()}
    split.update({c.id: (broad, "resolved") for broad, c in book.when_inactive.items()})
    disease = knowledge.concepts.get("Disease")
    for i, f in enumerate(record.get("findings", ())):
        concept = knowledge.concepts.get(f["concept"])
        present = f.get("present", True)
        rid = f"f{i}"
        status = None
        if present and concept.id in split:
            broad_id, status = split[concept.id]
            concept = knowledge.concepts.get(broad_id)
        code = _coding(knowledge, concept, present)
        if concept is disease or disease in concept.ancestors or status is not None:
            resource = {"resourceType": "Condition", "id": rid, "subject": subject, "code": {"coding": [code]},
                        "verificationStatus": _cc(VERIFICATION, "confirmed" if present else "refuted")}
            if status is not None:
                resource["clinicalStatus"] = _cc(CLINICAL, status)
        else:
            resource = {"resourceType": "Observation", "id": rid, "status": "final", "subject": subject,
                        "code": {"coding": [code]}}
            if not present:
                resource["valueBoolean"] = False
        if "durationMonths" in f or "ageAtOnset" in f:
            if f is onset_finding and birth is not None:
                resource["onsetDateTime"] = (birth + _months(f["ageAtOnset"] * 12)).isoformat()
                if ended is not None:  # FHIR: an abated condition is resolved (con-4)
                    resource["abatementDateTime"] = ended.isoformat()
                    resource["clinicalStatus"] = _cc(CLINICAL, "resolved")
            elif "durationMonths" in f:
                resource["onsetDateTime"] = (as_of - _months(f["durationMonths"])).isoformat()
            else:
                resource["onsetAge"] = {"value": f["ageAtOnset"], "unit": "years", "system": UCUM, "code": "a"}
            if resource["resourceType"] == "Observation":  # onset rides on a Condition
                resource = {**{k: v for k, v in resource.items() if k not in ("status", "valueBoolean")},
                            "resourceType": "Condition",
                            "verificationStatus": _cc(VERIFICATION, "confirmed")}
        if "durationMinutes" in f:
            resource["valueQuantity"] = {"value": f["durationMinutes"], "unit": "min", "system": UCUM, "code": "min"}
        entries.append(resource)
    measurements = record.get("measurements") or {}
    if isinstance(measurements, list):
        measurements = {m["quantity"]: m["value"] for m in measurements}
    labs: dict = {}
    for key, lab in sorted(book.labs.items()):  # the first code of each number (CRP: 1988-5, not hs-CRP's)
        if lab.quantity:
            labs.setdefault(lab.quantity, (key, lab))
    for j, (name, value) in enumerate(sorted(measurements.items())):
        unit = book.units[name].own if name in book.units else "1"
        if name in labs:
            (system, code), _ = labs[name]
        else:
            system, code = book.own_system, name
        entries.append({"resourceType": "Observation", "id": f"m{j}", "status": "final", "subject": subject,
                        "code": {"coding": [{"system": system, "code": code}]},
                        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}})
    return {"resourceType": "Bundle", "type": "collection", "timestamp": f"{as_of.isoformat()}T00:00:00Z",
            "entry": [{"fullUrl": f"urn:spakg:{r['resourceType']}/{r['id']}", "resource": r} for r in entries]}


def _coding(knowledge: Knowledge, concept: Concept, present: bool) -> dict:
    book = knowledge.fhir.codes
    public = book.public_coding(concept.id, present)
    if public is not None:
        system, code, display = public
        return {"system": system, "code": code, "display": display or concept.label}
    return {"system": book.own_system, "code": concept.id, "display": concept.label}


def _cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def _months(months: float) -> relativedelta:
    whole = int(months)
    days = round((months - whole) * 30)
    return relativedelta(months=whole, days=days)
