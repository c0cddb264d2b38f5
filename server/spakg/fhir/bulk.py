"""FHIR Bulk Data (``$export``) output as a cohort: NDJSON files — one resource per line, a file (or several) per
resource type — regrouped into one Bundle per patient, then screened like any Bundle.

The regrouping is Dask's (a bag's ``groupby`` on the patient each line is about), so it runs on the same local or
remote cluster as the rest of ``spakg screen`` and never holds the whole export in one process. A line that is not
JSON or names no patient is not lost: such lines come back as one row with an error naming their files.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import orjson

from ..errors import InvalidFacts

NO_PATIENT = ""  # the group of lines that are not JSON or name no patient


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
    return NO_PATIENT


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
