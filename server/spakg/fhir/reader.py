"""A FHIR R4 Bundle of Patient, Condition and Observation resources, read as spakg's facts.

Every Bundle type a record arrives in is read — collection, searchset, transaction, batch, document: the entries'
resources (a ``request`` or ``response`` part is ignored; an entry with no resource, a DELETE, is listed). A resource
with no id is named by its ``fullUrl`` (``urn:uuid:…``), and references to the patient are resolved against the
Patient's id and fullUrl alike.

A Condition or Observation none of whose codings spakg reads is listed as ``UNKNOWN_CODE`` without being checked
further; of each resource spakg does read, the fields it reads are checked against their R4 datatypes (``fields``: a
malformed one is listed, the others are still read); the codes are looked up in the ontology's ``CodeBook``.
FHIR's own semantics decide the three values:
- Condition.verificationStatus confirmed: present; refuted: absent; unconfirmed, provisional, differential: unknown
  (listed); entered-in-error: not read (listed). Without a verificationStatus a recorded Condition is taken as
  asserted, and the answer says so.
- Condition.clinicalStatus inactive, remission or resolved states the concept's history where the ontology splits it
  (fx:whenInactive: psoriasis in the past); active, recurrence or relapse its current form (fx:whenActive).
- Condition.onsetAge, or onsetDateTime with Patient.birthDate, gives the age at onset; the time from onset to the
  abatement (or to ``as_of``: else the Bundle's timestamp, else today in UTC) the duration; Patient.birthDate the age.
- Observation with a laboratory test code: valueQuantity in UCUM units (converted, or refused), and the finding the
  test states from its interpretation (H/HH: present; N/L/LL: absent) or, without one, from the reference range; a
  coded positive/negative result. Observation coded with a finding: present, or absent when valueBoolean is false or
  valueCodeableConcept is negative. Only final, amended and corrected results are read; of several results of one
  test, the latest (effective[x]) is used and the others are listed as superseded.
Nothing is dropped without a word: every resource or coding that is not used is in ``unused`` with a reason code,
and every assumption in ``notes``.
"""

from __future__ import annotations

import math
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

from ..errors import InvalidFacts, InvalidValue, TooManyFindings
from ..facts import FactSpace
from . import fields
from .codes import CodeBook, ConceptCode
from .fields import ConditionFields, Invalid, ObservationFields, PatientFields

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch", "document")
REQUEST_TYPES = ("transaction", "batch")  # entries may carry no resource (a DELETE): listed, not an error
MAX_ENTRIES = 20_000
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)  # an assessment date outside these is a typing error
READ_STATUSES = ("final", "amended", "corrected")
ACTIVE = ("active", "recurrence", "relapse")
INACTIVE = ("inactive", "remission", "resolved")
HIGH = ("H", "HH", "HU")
NOT_HIGH = ("N", "L", "LL", "LU")
POSITIVE = ("POS",)
NEGATIVE = ("NEG",)
READERS = {"Patient": fields.patient, "Condition": fields.condition, "Observation": fields.observation}


@dataclass(frozen=True)
class Remark:
    """A resource (or one coding of it) that was not used, or was used on an assumption; ``reason`` is a stable code."""

    resource: str
    reason: str
    message: str
    coding: str | None = None

    def as_dict(self) -> dict:
        out = {"resource": self.resource, "reason": self.reason, "message": self.message}
        if self.coding:
            out["coding"] = self.coding
        return out


class _Result(NamedTuple):
    """One result of a laboratory test or a measurement, kept until the latest of its kind is known."""

    when: date | None        # effective[x]
    order: int               # its place among the results of its kind, for results of one date
    ref: str
    value: float | None      # in the quantity's own unit
    state: bool | None       # the finding the test states: present, absent, or not said
    states: str | None       # which finding that is


@dataclass
class FhirReading:
    record: dict                                  # what FactSpace.read takes
    origins: list[list[str]]                      # per finding of the record, the resources that state it
    measured_by: dict[str, str]                   # measurement -> the resource it came from
    unused: list[Remark]
    notes: list[Remark]
    as_of: date
    patient: str | None                           # "Patient/…" when the Bundle has one
    _by_fact: dict[tuple[str, bool], list[str]] | None = field(default=None, repr=False)

    def stated(self) -> list[tuple[str, bool, list[str]]]:
        """Each finding of the record — its concept id, present or not — with the resources that stated it."""
        return [(f["concept"], f.get("present", True), refs)
                for f, refs in zip(self.record["findings"], self.origins, strict=True)]

    def resources_for(self, concept_id: str, present: bool) -> list[str]:
        """The resources that stated this finding (``Condition/abc``)."""
        if self._by_fact is None:  # built on first use: a cohort screen never asks
            self._by_fact = {}
            for concept, stated, refs in self.stated():
                self._by_fact.setdefault((concept, stated), []).extend(refs)
        return self._by_fact.get((concept_id, present), [])

    def as_dict(self) -> dict:
        return {
            "patient": self.patient, "asOf": self.as_of.isoformat(),
            "statedFrom": [{"concept": c, "present": present, "resources": refs} for c, present, refs in self.stated()],
            "measuredFrom": [{"quantity": q, "resource": r} for q, r in self.measured_by.items()],
            "unused": [r.as_dict() for r in self.unused], "notes": [r.as_dict() for r in self.notes],
        }


class BundleReader:
    """Reads Bundles against one ontology (its FactSpace and CodeBook); holds no per-patient state."""

    def __init__(self, facts: FactSpace, codes: CodeBook) -> None:
        self.facts = facts
        self.codes = codes

    def read(self, bundle: object, as_of: date | None = None) -> FhirReading:
        entries, skipped = _entries(bundle)
        if as_of is None:
            stamp = _date(bundle.get("timestamp")) if isinstance(bundle, dict) else None
            as_of = stamp or datetime.now(UTC).date()
        if not EARLIEST <= as_of <= LATEST:
            raise InvalidValue(f"The assessment date {as_of.isoformat()} is outside {EARLIEST.year}–{LATEST.year}; "
                               f"give asOf (or the Bundle's timestamp) as the date the record describes.")
        reading = _Reading(self, as_of)
        reading.unused.extend(skipped)
        return reading.run(entries)


class _Reading:
    """One Bundle's reading: the findings gathered so far and what was left out."""

    def __init__(self, reader: BundleReader, as_of: date) -> None:
        self.codes = reader.codes
        self.quantities = reader.facts.quantities
        self.as_of = as_of
        self.unused: list[Remark] = []
        self.notes: list[Remark] = []
        self.findings: dict[tuple, tuple[dict, list[str]]] = {}
        self.results: dict[str, list[_Result]] = {}  # by test (or measurement): every result, to keep the latest
        self.birth: date | None = None
        self.patient_ref: str | None = None
        self.patient_keys: set[str] = set()

    def run(self, entries: list[tuple[str, str | None, Mapping]]) -> FhirReading:
        patients, others = [], []
        for ref, full_url, raw in entries:
            kind = raw.get("resourceType")
            if kind == "Patient":
                patients.append((ref, full_url, raw))
            elif kind in READERS:
                others.append((ref, raw))
            else:
                self.unused.append(Remark(ref, "UNSUPPORTED_RESOURCE", f"spakg reads Patient, Condition and Observation "
                                                                       f"resources, not {kind or 'this entry'}."))
        if len({ref for ref, _, _ in patients}) > 1:
            raise InvalidFacts(f"A Bundle is assessed as one patient, but it holds {len(patients)} Patient resources "
                               f"({', '.join(ref for ref, _, _ in patients)}); send one Bundle per patient.")
        record: dict = {"findings": []}
        for ref, full_url, raw in patients:
            p = self._checked_fields(ref, raw)
            if p is not None:
                self._patient(ref, full_url, p, record)
            elif full_url or raw.get("id"):  # still the patient the others are about
                self._keys_of_patient(ref, full_url)
        for ref, raw in others:
            if not self._about_patient(ref, fields.subject_of(raw)):
                continue
            codings = fields.codings_of(raw)
            if codings and not any(self.codes.knows(key) for key in codings):
                for system, code in codings:  # nothing spakg reads: listed, not validated field by field
                    self.unused.append(Remark(ref, "UNKNOWN_CODE", "no spakg concept or laboratory test has this code",
                                              f"{system}|{code}"))
                continue
            r = self._checked_fields(ref, raw)
            if isinstance(r, ConditionFields):
                self._condition(ref, r)
            elif isinstance(r, ObservationFields):
                self._observation(ref, r)
        measured = self._latest_results(record)
        origins = []
        for f, refs in self.findings.values():
            record["findings"].append(f)
            origins.append(refs)
        return FhirReading(record, origins, measured, self.unused, self.notes, self.as_of, self.patient_ref)

    def _checked_fields(self, ref: str, raw: Mapping):
        try:
            return READERS[raw["resourceType"]](raw)
        except Invalid as e:
            self.unused.append(Remark(ref, "INVALID_RESOURCE", f"Not a valid FHIR R4 {raw['resourceType']}: {e}"))
            return None

    # ------------------------------------------------------------------ Patient
    def _keys_of_patient(self, ref: str, full_url: str | None) -> None:
        """The ways a resource may reference the patient: ``Patient/id``, the fullUrl, and the fullUrl's last two
        segments when it is a RESTful URL (``https://ehr.example/fhir/Patient/123``)."""
        self.patient_ref = ref
        self.patient_keys = {ref}
        if full_url:
            self.patient_keys.add(full_url)
            tail = full_url.rstrip("/").split("/")
            if len(tail) >= 2 and tail[-2] == "Patient":
                self.patient_keys.add(f"Patient/{tail[-1]}")

    def _patient(self, ref: str, full_url: str | None, p: PatientFields, record: dict) -> None:
        self._keys_of_patient(ref, full_url)
        record["id"] = p.id or ref
        if p.birth is not None:
            self.birth = p.birth
            if self.birth > self.as_of:
                raise InvalidValue(f"{ref}: birthDate {self.birth} is after the assessment date {self.as_of}.")
            record["age"] = _years(self.birth, self.as_of)
        if p.gender in ("male", "female"):
            record["sex"] = p.gender.upper()
        elif p.gender is not None:
            self.notes.append(Remark(ref, "SEX_NOT_READ", f"gender '{p.gender}' is not read: the criteria ask only for "
                                                          f"male or female, so sex is left unknown."))

    def _about_patient(self, ref: str, subject: str | None) -> bool:
        if not self.patient_keys:  # no Patient resource: the first subject is the patient
            if subject:
                self.patient_keys = {subject}
            return True
        if subject is None or subject in self.patient_keys:
            return True
        self.unused.append(Remark(ref, "OTHER_PATIENT", f"about {subject}, not this Bundle's patient ({self.patient_ref})."))
        return False

    # ------------------------------------------------------------------ Condition
    def _condition(self, ref: str, c: ConditionFields) -> None:
        verification = c.verification
        if verification == "entered-in-error":
            self.unused.append(Remark(ref, "ENTERED_IN_ERROR", "verificationStatus is entered-in-error."))
            return
        if verification in ("unconfirmed", "provisional", "differential"):
            self.unused.append(Remark(ref, "NOT_CONFIRMED", f"verificationStatus is {verification}: the condition is "
                                                            f"neither present nor absent, so it stays unknown."))
            return
        if verification is None:
            self.notes.append(Remark(ref, "ASSUMED_CONFIRMED", "no verificationStatus: the recorded condition is taken as "
                                                               "present."))
        elif verification not in ("confirmed", "refuted"):
            self.unused.append(Remark(ref, "VALUE_NOT_UNDERSTOOD", f"verificationStatus '{verification}' is not one of "
                                                                   f"FHIR R4's codes."))
            return
        present = verification != "refuted"
        concepts = self._concepts(ref, c.code, present)
        if not concepts:
            return
        status = c.clinical
        for concept in concepts:
            if present and status in ACTIVE and concept.id in self.codes.when_active:
                concept = self.codes.when_active[concept.id]
            elif present and status in INACTIVE and concept.id in self.codes.when_inactive:
                concept = self.codes.when_inactive[concept.id]
            self._state(ref, concept.id, present, self._onset(ref, c, concept.id) if present else {})

    def _onset(self, ref: str, c: ConditionFields, concept_id: str) -> dict[str, float]:
        """ageAtOnset and durationMonths, where the concept takes them and the dates give them."""
        takes = {name for name in ("ageAtOnset", "durationMonths")
                 if name in self.quantities and concept_id in self.quantities[name].applies_to}
        onset_date = c.onset
        has_onset = onset_date is not None or c.onset_age is not None
        if takes and not has_onset and c.onset_words:
            self.notes.append(Remark(ref, "ONSET_NOT_READ", f"{c.onset_words} is not read: give onsetDateTime or "
                                                            f"onsetAge for the age at onset and the duration."))
        if not takes:
            if has_onset:
                self.notes.append(Remark(ref, "ONSET_NOT_READ", f"the onset is not read: no criterion asks when "
                                                                f"{concept_id} began."))
            return {}
        end = c.abatement or self.as_of
        if end > self.as_of:
            self.unused.append(Remark(ref, "IMPOSSIBLE_VALUE", f"abatement {end} is after the assessment date "
                                                               f"{self.as_of}; the onset is not read."))
            return {}
        out: dict[str, float] = {}
        if onset_date is not None:
            if onset_date > end:
                self.unused.append(Remark(ref, "IMPOSSIBLE_VALUE", f"onset {onset_date} is after {end}; the onset is not read."))
                return {}
            if self.birth is not None:
                if onset_date < self.birth:
                    self.unused.append(Remark(ref, "IMPOSSIBLE_VALUE", f"onset {onset_date} is before the birthDate "
                                                                       f"{self.birth}; the onset is not read."))
                    return {}
                out["ageAtOnset"] = _years(self.birth, onset_date)
            out["durationMonths"] = _months(onset_date, end)
            if "ageAtOnset" in out and end == self.as_of:
                # calendar fractions of a month do not quite add up: keep onset age + duration within the age the
                # same dates give (a fraction of a day at most), or the facts would contradict themselves
                out["durationMonths"] = min(out["durationMonths"], (_years(self.birth, self.as_of) - out["ageAtOnset"]) * 12)
        elif c.onset_age is not None:
            years = self._convert(ref, "ageAtOnset", c.onset_age)
            if years is None:
                return {}
            out["ageAtOnset"] = years
            if self.birth is not None and end == self.as_of:
                months = (_years(self.birth, self.as_of) - years) * 12
                if months < 0:
                    self.unused.append(Remark(ref, "IMPOSSIBLE_VALUE", f"onsetAge {years} is older than the patient; "
                                                                       f"the onset is not read."))
                    return {}
                out["durationMonths"] = months
        return {k: v for k, v in out.items() if k in takes}

    # ------------------------------------------------------------------ Observation
    def _observation(self, ref: str, o: ObservationFields) -> None:
        if o.status not in READ_STATUSES:
            reason = "ENTERED_IN_ERROR" if o.status == "entered-in-error" else "NOT_FINAL"
            self.unused.append(Remark(ref, reason, f"status is {o.status}: only final, amended and corrected results "
                                                   f"are read."))
            return
        codings = o.code.codings
        lab = next((self.codes.labs[k] for k in codings if k in self.codes.labs), None)
        measurement = next((self.codes.measurements[k] for k in codings if k in self.codes.measurements), None)
        when = o.effective
        if lab is not None or measurement is not None:
            quantity = lab.quantity if lab is not None else measurement
            # by what the result gives, so that results under two codes of one test (CRP, hs-CRP) are one series
            key = quantity or (lab.states.id if lab is not None and lab.states else lab.code)  # type: ignore[union-attr]
            value = self._value(ref, quantity, o) if quantity else None
            state = self._lab_state(ref, o, quantity, value) if lab is not None and lab.states is not None else None
            if value is None and state is None:
                if o.data_absent or not o.has_value:
                    self.unused.append(Remark(ref, "NO_VALUE", f"{key}: the result has no value spakg can read."))
                elif not any(u.resource == ref for u in self.unused):  # a unit refused, a number out of range: said
                    self.unused.append(Remark(ref, "VALUE_NOT_UNDERSTOOD", f"{key}: the value is neither a quantity "
                                                                           f"spakg reads nor a positive/negative code."))
                return
            results = self.results.setdefault(key, [])
            results.append(_Result(when, len(results), ref, value, state,
                                   lab.states.id if lab is not None and lab.states else None))
            return
        if o.data_absent:
            self.unused.append(Remark(ref, "NO_VALUE", "dataAbsentReason is given: nothing was observed."))
            return
        if not any(self.codes.concept_codes(key) for key in codings):
            self._concepts(ref, o.code, True)  # lists the codes no concept has: the first thing to fix
            return
        other = o.other_value
        if other is not None:  # never guess presence from a value spakg does not read
            self.unused.append(Remark(ref, "VALUE_NOT_UNDERSTOOD", f"{other} is not read for a finding: send no value "
                                                                   f"(observed), valueBoolean, or a positive/negative "
                                                                   f"valueCodeableConcept."))
            return
        present = True
        if o.boolean is not None:
            present = o.boolean
        elif o.concept is not None:
            meaning = self._result_meaning(o.concept)
            if meaning is None:
                first = o.concept.codings[0] if o.concept.codings else None
                self.unused.append(Remark(ref, "VALUE_NOT_UNDERSTOOD", "valueCodeableConcept is neither positive nor "
                                                                       "negative in a code spakg knows.",
                                          f"{first[0]}|{first[1]}" if first else None))
                return
            present = meaning
        concepts = self._concepts(ref, o.code, present)
        for concept in concepts:
            numbers = self._finding_number(ref, o, concept.id) if present and o.quantity is not None else {}
            self._state(ref, concept.id, present, numbers)

    def _lab_state(self, ref: str, o: ObservationFields, quantity: str | None, value: float | None) -> bool | None:
        if o.concept is not None:
            return self._result_meaning(o.concept)
        flags = o.flags
        if any(f in HIGH or f in POSITIVE for f in flags):
            return True
        if any(f in NOT_HIGH or f in NEGATIVE for f in flags):
            return False
        if value is not None and quantity is not None:
            for limit in o.range_highs:
                high = self._convert(ref, quantity, limit, quiet=True, like=o.quantity)
                if high is not None:
                    return value > high
        if value is not None:
            self.notes.append(Remark(ref, "NO_INTERPRETATION", "no interpretation or reference range: the number is "
                                                               "used, whether it is raised is left unknown (reference "
                                                               "ranges are the laboratory's)."))
        return None

    def _result_meaning(self, cc: fields.Concept) -> bool | None:
        for key in cc.codings:
            if key in self.codes.results:
                return self.codes.results[key]
        for code in cc.codes:
            if code in POSITIVE:
                return True
            if code in NEGATIVE:
                return False
        return None

    def _value(self, ref: str, quantity: str, o: ObservationFields) -> float | None:
        if o.quantity is not None:
            return self._convert(ref, quantity, o.quantity)
        if o.integer is not None:
            unit = self.codes.units.get(quantity)
            if unit is not None and unit.own != "{score}":
                self.unused.append(Remark(ref, "UNIT_NOT_ACCEPTED", f"{quantity} needs a valueQuantity in {unit.own} "
                                                                    f"(UCUM); a bare integer has no unit."))
                return None
            return self._checked(ref, quantity, float(o.integer))
        return None

    def _finding_number(self, ref: str, o: ObservationFields, concept_id: str) -> dict[str, float]:
        unit = o.quantity.unit if o.quantity is not None else None
        names = [n for n in self.quantities.finding_names if concept_id in self.quantities[n].applies_to
                 and n in self.codes.units and unit in self.codes.units[n].factors]
        if len(names) != 1:
            self.notes.append(Remark(ref, "VALUE_NOT_READ", f"the valueQuantity ({unit}) is not read: it names no single "
                                                            f"number of {concept_id}."))
            return {}
        value = self._convert(ref, names[0], o.quantity)
        return {} if value is None else {names[0]: value}

    def _convert(self, ref: str, quantity: str, q: fields.Quantity, quiet: bool = False,
                 like: fields.Quantity | None = None) -> float | None:
        """A FHIR Quantity in the spakg quantity's own unit (None, listed, when its unit is not one it accepts).
        ``like``: the value a reference range bounds, whose unit the range shares when it names none."""
        if q.value is None:
            return None
        unit = q.unit or (like.unit if like is not None else None)
        accepted = self.codes.units.get(quantity)
        if accepted is None or unit not in accepted.factors:
            if not quiet:
                allowed = ", ".join(accepted.factors) if accepted else "none declared"
                self.unused.append(Remark(ref, "UNIT_NOT_ACCEPTED", f"{quantity} given in '{unit}', which spakg cannot "
                                                                    f"convert; accepted UCUM units: {allowed}."))
            return None
        return self._checked(ref, quantity, float(q.value) * accepted.factors[unit], quiet=quiet)

    def _checked(self, ref: str, quantity: str, value: float, quiet: bool = False) -> float | None:
        q = self.quantities[quantity]
        if not (math.isfinite(value) and q.minimum <= value <= q.maximum):
            if not quiet:
                self.unused.append(Remark(ref, "IMPOSSIBLE_VALUE", f"{quantity} {value:g} {q.unit} is outside "
                                                                   f"{q.minimum:g}–{q.maximum:g}."))
            return None
        return round(value, 9)

    def _latest_results(self, record: dict) -> dict[str, str]:
        """Of several results of one test, the latest is used; the number goes to measurements, the flag to a finding."""
        measured: dict[str, str] = {}
        for key, results in self.results.items():
            results.sort(key=lambda r: (r.when or date.min, r.order))
            latest = results[-1]
            for older in results[:-1]:
                self.unused.append(Remark(older.ref, "SUPERSEDED", f"a later result of {key} ({latest.ref}) is used."))
            quantity = key if key in self.quantities else None
            if latest.value is not None and quantity:
                record.setdefault("measurements", {})[quantity] = latest.value
                measured[quantity] = latest.ref
            if latest.state is not None and latest.states is not None:
                self._state(latest.ref, latest.states, latest.state, {})
        return measured

    # ------------------------------------------------------------------ codes
    def _concepts(self, ref: str, cc: fields.Concept | None, present: bool):
        codings = cc.codings if cc is not None else ()
        if not codings:
            self.unused.append(Remark(ref, "UNKNOWN_CODE", "no coding with a system and a code."))
            return []
        found: dict[str, object] = {}
        loose: list[tuple[ConceptCode, tuple[str, str]]] = []
        unknown: list[str] = []
        for key in codings:
            targets = self.codes.concept_codes(key)
            if not targets:
                unknown.append(f"{key[0]}|{key[1]}")
                continue
            for t in targets:
                if t.states_absence if not present else t.states_presence:
                    found.setdefault(t.concept.id, t.concept)
                    if t.source:
                        self.notes.append(Remark(ref, "CODE_SOURCE", f"{t.code} read as {t.concept.id} on {t.source}'s "
                                                                     f"cross-reference.", f"{key[0]}|{key[1]}"))
                else:
                    loose.append((t, key))
        for coding in unknown:
            self.unused.append(Remark(ref, "UNKNOWN_CODE", (
                "no spakg concept or laboratory test has this code" if not found else
                f"no spakg concept has this code; the resource was read through another of its codings "
                f"({', '.join(found)})"), coding))
        if not found:
            for t, key in loose:
                why = {"BROAD": f"broader than {t.concept.id} (it also covers other conditions)",
                       "CLOSE": f"only a close match of {t.concept.id}",
                       "NARROW": f"narrower than {t.concept.id}, so its absence leaves {t.concept.id} unknown"}[t.match]
                self.unused.append(Remark(ref, "LOOSE_MATCH", f"{t.code} is {why}; it is not read as "
                                                              f"{'present' if present else 'absent'}.",
                                          f"{key[0]}|{key[1]}"))
        return list(found.values())

    def _state(self, ref: str, concept_id: str, present: bool, numbers: dict[str, float]) -> None:
        key = (concept_id, present, tuple(sorted(numbers.items())))
        if key in self.findings:
            self.findings[key][1].append(ref)
        else:
            self.findings[key] = ({"concept": concept_id, "present": present, **numbers}, [ref])


# ---------------------------------------------------------------------- helpers
def _entries(bundle: object) -> tuple[list[tuple[str, str | None, Mapping]], list[Remark]]:
    """Each entry's (name, fullUrl, resource), and the entries listed as carrying nothing to read."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidFacts("A FHIR input is a Bundle: a JSON object with \"resourceType\": \"Bundle\".")
    kind = bundle.get("type")
    if kind not in BUNDLE_TYPES:
        raise InvalidFacts(f"Bundle.type must be one of {', '.join(BUNDLE_TYPES)} (got {str(kind)[:40]!r}).")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidFacts("Bundle.entry must be a list of entries.")
    if len(entries) > MAX_ENTRIES:
        raise TooManyFindings(f"The Bundle has {len(entries)} entries; at most {MAX_ENTRIES} are read per patient.")
    out, skipped = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidFacts(f"Bundle.entry[{i}] is not an object.")
        resource = entry.get("resource")
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        if not isinstance(resource, dict):
            if kind in REQUEST_TYPES and resource is None:  # a DELETE or a conditional request: nothing to read
                request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
                what = " ".join(str(request.get(k))[:80] for k in ("method", "url") if request.get(k))
                skipped.append(Remark(full_url or f"Bundle.entry[{i}]", "NO_RESOURCE",
                                      f"the entry carries no resource{f' ({what})' if what else ''}: nothing to read."))
                continue
            raise InvalidFacts(f"Bundle.entry[{i}] has no resource object.")
        kind_, rid = resource.get("resourceType"), resource.get("id")
        named = isinstance(kind_, str) and isinstance(rid, str) and rid
        ref = f"{kind_}/{rid}" if named else full_url or f"Bundle.entry[{i}]"
        if isinstance(entry.get("search"), dict) and entry["search"].get("mode") == "outcome":
            continue  # a searchset's OperationOutcome: about the search, not the patient
        out.append((ref, full_url, resource))
    return out, skipped


def _date(text: object) -> date | None:
    if not isinstance(text, str):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidFacts(f"Bundle.timestamp {text[:40]!r} is not a FHIR instant.") from None


def _months(start: date, end: date) -> float:
    """Calendar months from start to end: whole months, and the days left as a fraction of the month they fall in
    (so the 1st of March to the 1st of June is exactly 3). dateutil's relativedelta gives the same (a test holds it
    to it), at a twentieth of the cost: a Bulk Data export computes this for every patient."""
    whole = (end.year - start.year) * 12 + end.month - start.month
    anchor = _add_months(start, whole)
    if anchor > end:
        whole -= 1
        anchor = _add_months(start, whole)
    days_in_month = (_add_months(anchor, 1) - anchor).days
    return whole + (end - anchor).days / days_in_month


def _add_months(d: date, months: int) -> date:
    """``d`` plus whole calendar months, the day clamped to the month's length (31 January + 1 month: 28 February)."""
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def _years(start: date, end: date) -> float:
    """Calendar years (an age on the birthday is exactly whole)."""
    return _months(start, end) / 12
