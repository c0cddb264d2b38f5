"""FHIR Bulk Data (``$export``) output as a cohort: NDJSON files — one resource per line, a file (or several) per
resource type — regrouped into one Bundle per patient, then screened like any Bundle.

The regrouping is one hash shuffle on the Dask cluster ``spakg screen`` runs on: each block of lines is split into
buckets by the patient each line is about (``bucket_lines``: the patient found in the line's text, the JSON parsed
only where the text is not plain), and each bucket — every block's share of it — is grouped by patient and screened
(``screen_bucket``), each line parsed once. No process holds the whole export. A line that is not JSON, or a
Condition or Observation that names no patient, is not lost: such lines come back as one row with an error naming
their files. A resource of a type spakg does not read that names no patient (a Practitioner, an Organization) is
about no one and is passed over, as a Bundle's reading would list it as a type spakg does not read.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import orjson

from ..errors import InvalidFacts

NO_PATIENT = ""  # the group of lines that are not JSON, or a resource spakg reads that names no patient
ABOUT_NO_ONE = "-"  # a resource of a type spakg does not read that names no patient (a Practitioner): passed over
READ_TYPES = ("Patient", "Condition", "Observation")
# a subject or patient reference in a line's text, and the marks of a line whose text cannot be trusted for it
_REFERENCE = re.compile(r'"(?:subject|patient)"\s*:\s*\{[^{}]*?"reference"\s*:\s*"([^"\\]+)"')
_PATIENT = re.compile(r'"resourceType"\s*:\s*"Patient"')  # a Patient itself (its id is the key): parsed


def bulk_files(source: Path) -> list[Path]:
    """A directory's NDJSON files (natural order), or [] when it holds none."""
    from dask.utils import natural_sort_key

    if not source.is_dir():
        return []
    return sorted(source.rglob("*.ndjson"), key=lambda p: natural_sort_key(str(p)))


def patient_of(item: tuple[str, str]) -> str:
    """The patient a Bulk Data line is about: ``Patient/<id>`` (from the Patient itself, or a resource's subject or
    patient reference, relative or absolute, with or without ``_history``)."""
    line = item[0]
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError:
        return NO_PATIENT
    if not isinstance(resource, dict):
        return NO_PATIENT
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return f"Patient/{rid}" if isinstance(rid, str) and rid else NO_PATIENT
    for field in ("subject", "patient"):
        ref = resource.get(field)
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(reference, str):
            parts = reference.split("/_history/")[0].rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                return f"Patient/{parts[-1]}"
    return NO_PATIENT if resource.get("resourceType") in READ_TYPES else ABOUT_NO_ONE


def patient_in_text(line: str) -> str:
    """``patient_of`` for one line, from its text where that is unambiguous (a resource other than a Patient with one
    subject or patient reference, nothing contained): some twenty times faster than parsing it. Otherwise, parsed."""
    if '"contained"' not in line and not _PATIENT.search(line):
        found = set(_REFERENCE.findall(line))
        if len(found) == 1:
            parts = found.pop().split("/_history/")[0].rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                return f"Patient/{parts[-1]}"
    return patient_of((line, ""))


def bucket_lines(items: Iterable[tuple[str, str]], buckets: int) -> tuple[list[tuple[str, str, str]], ...]:
    """A block of (line, path) split into ``buckets`` lists of (patient, line, path) by the patient each is about
    (the lines that name none in the first)."""
    out: tuple[list[tuple[str, str, str]], ...] = tuple([] for _ in range(buckets))
    for line, path in items:
        if not line.strip():
            continue
        key = patient_in_text(line)
        if key == ABOUT_NO_ONE:
            continue  # read in a Bundle, it would be listed as a resource spakg does not read
        out[zlib.crc32(key.encode()) % buckets if key else 0].append((key, line, path))
    return out


def screen_bucket(shares: list[list[tuple[str, str, str]]], ontology: str | None, as_of: date | None):
    """One bucket — every block's share of it — grouped by patient and screened: a results frame."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for share in shares:
        for key, line, path in share:
            groups.setdefault(key, []).append((line, path))
    return screen_groups(list(groups.items()), ontology, as_of)


def bundles(groups: Iterable[tuple[str, list[tuple[str, str]]]]) -> Iterable[tuple[str, dict | Exception]]:
    """Each patient's lines as a collection Bundle (the lines that name no patient as one error)."""
    for key, items in groups:
        if key == NO_PATIENT:
            files = sorted({Path(path).name for _, path in items})
            yield key, InvalidFacts(f"{len(items)} line(s) in {', '.join(files)} are not JSON or name no patient "
                                    f"(a Patient, or a subject or patient reference to one): they were not read.")
            continue
        entries = [{"resource": orjson.loads(line)} for line, _ in items if line.strip()]
        yield key, {"resourceType": "Bundle", "type": "collection", "entry": entries}


def screen_groups(groups: list, ontology: str | None, as_of: date | None):
    """One partition of grouped lines, screened: a results frame (``cohort.results_frame``), a row per patient."""
    from ..cohort import results_frame, screened, status_codes
    from ..worker_knowledge import worker_knowledge

    k = worker_knowledge(ontology)
    keyed = list(bundles(groups))
    rows, ids, statuses, errors = screened(k, (b for _, b in keyed), 0, as_of)
    for i, (key, _) in enumerate(keyed):
        if ids[i] is None and key:
            ids[i] = key.split("/", 1)[1]  # a patient whose Patient resource was not exported
    return results_frame([r.id for r in k.rules.order], rows, ids, status_codes(statuses, len(k.rules.order)), errors)


def sample_bundles(files: list[Path], patients: int, max_lines: int = 2_000_000) -> list[dict]:
    """The Bundles of the first ``patients`` patients of the export's Patient files, gathered in one streaming pass
    over at most ``max_lines`` lines (the cohort report's sample of the next questions: an export larger than that
    may leave a sampled patient's later resources out, which the report's sample says it is)."""
    wanted: dict[str, list[tuple[str, str]]] = {}
    for path in files:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if len(wanted) >= patients:
                    break
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(resource, dict) and resource.get("resourceType") == "Patient" and \
                        isinstance(resource.get("id"), str):
                    wanted.setdefault(f"Patient/{resource['id']}", [])
        if len(wanted) >= patients:
            break
    read = 0
    for path in files:
        with path.open(encoding="utf-8") as f:
            for line in f:
                read += 1
                if read > max_lines:
                    break
                if line.strip():
                    key = patient_of((line, str(path)))
                    if key in wanted:
                        wanted[key].append((line, str(path)))
    return [b for _, b in bundles(wanted.items()) if isinstance(b, dict)]
