"""The fields spakg reads from a FHIR R4 Patient, Condition or Observation, each checked against its R4 datatype as
it is taken from the JSON — and nothing else of the resource.

Why not a model library: fhirclient (used before) builds and validates every element of a resource, about 100 µs
each; spakg reads a dozen fields, so nineteen twentieths of a long record's read time went to fields nobody looks at,
and a Bulk Data export could not be screened faster than about a thousand patients a second. Here each field spakg
uses is checked as R4 defines it (a CodeableConcept is an object whose ``coding`` is a list of Codings whose
``system`` and ``code`` are strings; a dateTime matches R4's pattern; a Quantity's value is a number; required
elements are present), and a field that is not so makes the resource ``INVALID_RESOURCE`` with its path, as before.
A malformed element spakg never reads no longer hides the ones it does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

# R4's dateTime (and date) pattern: a year, optionally month, day, and a time with its zone
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?")
_DATE = re.compile(r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")
OBSERVATION_STATUSES = frozenset(("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                  "entered-in-error", "unknown"))
GENDERS = frozenset(("male", "female", "other", "unknown"))
VALUES = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
          "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod")  # R4's value[x]
_VALUES = frozenset(VALUES)
_FINDING_VALUES = frozenset(("valueBoolean", "valueCodeableConcept", "valueQuantity"))  # read for a finding


class Invalid(Exception):
    """A field spakg reads that is not what FHIR R4 says it is; ``str`` is its path and what is wrong."""


class Quantity(NamedTuple):
    value: float | None
    unit: str | None          # the UCUM code, else the unit as written


class Concept(NamedTuple):
    """A CodeableConcept: its (system, code) pairs (a pair only where both are given) and every code."""

    codings: tuple[tuple[str, str], ...]
    codes: tuple[str, ...]

    @property
    def first_code(self) -> str | None:
        return self.codes[0] if self.codes else None


class PatientFields(NamedTuple):
    id: str | None
    birth: date | None
    gender: str | None


class ConditionFields(NamedTuple):
    code: Concept | None
    verification: str | None
    clinical: str | None
    onset: date | None           # onsetDateTime, else onsetPeriod.start
    onset_age: Quantity | None
    onset_words: str | None      # "onsetString" or "onsetRange" when the onset is given only so
    abatement: date | None


class ObservationFields(NamedTuple):
    status: str
    code: Concept
    effective: date | None       # effectiveDateTime, else effectivePeriod.end
    quantity: Quantity | None    # valueQuantity
    integer: int | None
    boolean: bool | None
    concept: Concept | None      # valueCodeableConcept
    other_value: str | None      # a value[x] of a kind spakg does not read for a finding
    has_value: bool
    data_absent: bool
    flags: tuple[str, ...]       # interpretation codes
    range_highs: tuple[Quantity, ...]


def patient(raw: Mapping) -> PatientFields:
    rid = raw.get("id")
    _string(rid, "Patient.id", optional=True)
    gender = raw.get("gender")
    _string(gender, "Patient.gender", optional=True)
    if gender is not None and gender not in GENDERS:
        raise Invalid(f"Patient.gender: {str(gender)[:30]!r} is not one of {', '.join(sorted(GENDERS))}")
    return PatientFields(rid, _date(raw.get("birthDate"), "Patient.birthDate", _DATE), gender)


def condition(raw: Mapping) -> ConditionFields:
    _reference(raw.get("subject"), "Condition.subject", required=True)
    period = raw.get("onsetPeriod")
    _object(period, "Condition.onsetPeriod", optional=True)
    onset = _date(raw.get("onsetDateTime"), "Condition.onsetDateTime") or (
        _date(period.get("start"), "Condition.onsetPeriod.start") if period else None)
    words = next((name for name in ("onsetString", "onsetRange") if raw.get(name) is not None), None)
    verification = _concept(raw.get("verificationStatus"), "Condition.verificationStatus")
    clinical = _concept(raw.get("clinicalStatus"), "Condition.clinicalStatus")
    return ConditionFields(
        _concept(raw.get("code"), "Condition.code"), verification.first_code if verification else None,
        clinical.first_code if clinical else None, onset, _quantity(raw.get("onsetAge"), "Condition.onsetAge"), words,
        _date(raw.get("abatementDateTime"), "Condition.abatementDateTime"))


def observation(raw: Mapping) -> ObservationFields:
    status = raw.get("status")
    if status is None:
        raise Invalid("Observation.status: required, and missing")
    if status not in OBSERVATION_STATUSES:
        raise Invalid(f"Observation.status: {str(status)[:30]!r} is not an R4 observation status")
    code = _concept(raw.get("code"), "Observation.code")
    if code is None:
        raise Invalid("Observation.code: required, and missing")
    _reference(raw.get("subject"), "Observation.subject")
    period = raw.get("effectivePeriod")
    _object(period, "Observation.effectivePeriod", optional=True)
    effective = _date(raw.get("effectiveDateTime"), "Observation.effectiveDateTime") or (
        _date(period.get("end"), "Observation.effectivePeriod.end") if period else None)
    integer = raw.get("valueInteger")
    if integer is not None and (isinstance(integer, bool) or not isinstance(integer, int)):
        raise Invalid("Observation.valueInteger: not an integer")
    boolean = raw.get("valueBoolean")
    if boolean is not None and not isinstance(boolean, bool):
        raise Invalid("Observation.valueBoolean: not true or false")
    interpretation = raw.get("interpretation")
    flags: list[str] = []
    for i, cc in enumerate(_list(interpretation, "Observation.interpretation")):
        found = _concept(cc, f"Observation.interpretation[{i}]")
        flags.extend(found.codes if found else ())
    highs = []
    for i, rr in enumerate(_list(raw.get("referenceRange"), "Observation.referenceRange")):
        _object(rr, f"Observation.referenceRange[{i}]")
        high = _quantity(rr.get("high"), f"Observation.referenceRange[{i}].high")
        if high is not None and high.value is not None:
            highs.append(high)
    absent = raw.get("dataAbsentReason")
    _concept(absent, "Observation.dataAbsentReason")
    values = [n for n in _VALUES.intersection(raw) if raw[n] is not None]
    others = [n for n in values if n not in _FINDING_VALUES]
    return ObservationFields(
        status, code, effective, _quantity(raw.get("valueQuantity"), "Observation.valueQuantity"), integer, boolean,
        _concept(raw.get("valueCodeableConcept"), "Observation.valueCodeableConcept"),
        min(others, key=VALUES.index) if others else None, bool(values), absent is not None, tuple(flags),
        tuple(highs))


def subject_of(raw: Mapping) -> str | None:
    """The reference a resource's subject makes, a version (``/_history/2``) left off; None without one."""
    subject = raw.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    return reference.split("/_history/")[0] if isinstance(reference, str) else None


def codings_of(raw: Mapping) -> list[tuple[str, str]] | None:
    """A resource's code as (system, code) pairs, read before anything is checked; None when the code is missing or
    malformed (checking the resource then says what is wrong with it)."""
    cc = raw.get("code")
    codings = cc.get("coding") if isinstance(cc, dict) else None
    if not isinstance(codings, list) or not codings:
        return None
    out = []
    for c in codings:
        if not isinstance(c, dict) or not isinstance(c.get("system"), str) or not isinstance(c.get("code"), str):
            return None
        out.append((c["system"], c["code"]))
    return out


# ---------------------------------------------------------------------- datatypes
def _object(value: object, path: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, dict):
        raise Invalid(f"{path}: not an object")


def _string(value: object, path: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise Invalid(f"{path}: not a non-empty string")


def _list(value: object, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{path}: not a list")
    return value


def _concept(value: object, path: str) -> Concept | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise Invalid(f"{path}: not a CodeableConcept (an object)")
    pairs, codes = [], []
    coding = value.get("coding")
    if coding is not None:
        if type(coding) is not list:
            raise Invalid(f"{path}.coding: not a list")
        for i, c in enumerate(coding):
            if type(c) is not dict:
                raise Invalid(f"{path}.coding[{i}]: not a Coding (an object)")
            system, code = c.get("system"), c.get("code")
            if system is not None and (type(system) is not str or not system):
                raise Invalid(f"{path}.coding[{i}].system: not a non-empty string")
            if code is not None:
                if type(code) is not str or not code:
                    raise Invalid(f"{path}.coding[{i}].code: not a non-empty string")
                codes.append(code)
                if system is not None:
                    pairs.append((system, code))
    text = value.get("text")
    if text is not None and (type(text) is not str or not text):
        raise Invalid(f"{path}.text: not a non-empty string")
    return Concept(tuple(pairs), tuple(codes))


def _quantity(value: object, path: str) -> Quantity | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"{path}: not a Quantity (an object)")
    number = value.get("value")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
        raise Invalid(f"{path}.value: not a number")
    for name in ("unit", "code", "system"):
        _string(value.get(name), f"{path}.{name}", optional=True)
    return Quantity(None if number is None else float(number), value.get("code") or value.get("unit"))


def _reference(value: object, path: str, required: bool = False) -> None:
    if value is None:
        if required:
            raise Invalid(f"{path}: required, and missing")
        return
    if not isinstance(value, dict):
        raise Invalid(f"{path}: not a Reference (an object)")
    _string(value.get("reference"), f"{path}.reference", optional=True)


def _date(value: object, path: str, pattern: re.Pattern = _DATETIME) -> date | None:
    """A FHIR date or dateTime as the calendar date it begins on (a year alone: its first of January)."""
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid(f"{path}: {str(value)[:40]!r} is not a FHIR {'date' if pattern is _DATE else 'dateTime'}")
    year = int(value[:4])
    month = int(value[5:7]) if len(value) >= 7 else 1
    day = int(value[8:10]) if len(value) >= 10 else 1
    try:
        return date(year, month, day)
    except ValueError:
        raise Invalid(f"{path}: {value[:40]!r} is not a calendar date") from None
