"""A patient in a URL's query string and back: the "try a patient" form keeps its case in the address only (a
permalink for teaching; nothing is stored or logged).

    f.BackPain=yes            a finding present (no: absent; missing or "unknown": not known)
    q.BackPain.ageAtOnset=27  a number on a finding
    age=28  sex=FEMALE        the patient
    m.CrpMgPerL=12            a measurement
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from ..errors import InvalidValue

ANSWERS = {"yes": True, "no": False}


def patient_from_query(params: Mapping[str, str]) -> dict | None:
    """The patient record the form describes; None when nothing at all was answered."""
    findings: dict[str, dict] = {}
    measurements: list[dict] = []
    record: dict = {"id": "teaching-case"}
    for key, raw in params.items():
        value = raw.strip()
        if not value or value == "unknown":
            continue
        if key.startswith("f."):
            if value not in ANSWERS:
                raise InvalidValue(f"Answer {key[2:]} with yes, no or unknown (got {value[:20]!r}).")
            findings.setdefault(key[2:], {"concept": key[2:]})["present"] = ANSWERS[value]
        elif key.startswith("q.") and key.count(".") == 2:
            _, concept, quantity = key.split(".")
            findings.setdefault(concept, {"concept": concept, "present": True})[quantity] = _number(key, value)
        elif key.startswith("m."):
            measurements.append({"quantity": key[2:], "value": _number(key, value)})
        elif key == "age":
            record["age"] = _number(key, value)
        elif key == "sex" and value in ("MALE", "FEMALE"):
            record["sex"] = value
    if not findings and not measurements and "age" not in record:
        return None
    for finding in findings.values():
        if finding.get("present") is False and len(finding) > 2:
            raise InvalidValue(f"{finding['concept']} is answered 'no' but has numbers; clear them or answer 'yes'.")
    record["findings"] = list(findings.values())
    if measurements:
        record["measurements"] = measurements
    return record


def _number(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidValue(f"{key} must be a number (got {value[:20]!r}).") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidValue(f"{key} must be a finite number.")
    return number


def query_from_patient(record: Mapping) -> str:
    """The query string ``patient_from_query`` reads back as this record (a permalink to /assess)."""
    pairs: list[tuple[str, str]] = []
    for f in record.get("findings", ()):
        present = f.get("present", True)
        pairs.append((f"f.{f['concept']}", "yes" if present else "no"))
        pairs += [(f"q.{f['concept']}.{name}", _text(value)) for name, value in f.items()
                  if name not in ("concept", "present") and value is not None]
    measurements = record.get("measurements") or {}
    items = measurements.items() if isinstance(measurements, Mapping) else ((m["quantity"], m["value"]) for m in measurements)
    pairs += [(f"m.{name}", _text(value)) for name, value in items]
    if record.get("age") is not None:
        pairs.append(("age", _text(record["age"])))
    if record.get("sex"):
        pairs.append(("sex", str(record["sex"])))
    return urlencode(pairs)


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
