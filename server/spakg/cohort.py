"""Cohorts: the columnar layout of patients (Parquet), and the one pure batch function that screens them.

Layout — one row per patient (``Layout.of(knowledge)`` lists the columns; `spakg synth` writes it):

    id                      string   the patient's id (optional)
    age                     double   years (optional)
    sex                     string   MALE or FEMALE (optional)
    <ConceptId>             bool     one per observable concept: true present, false absent, null not known
    <ConceptId>.<quantity>  double   a number on a finding (ageAtOnset, durationMonths, durationMinutes), one column
                                     for each finding it may ride on (BackPain.ageAtOnset, InflammatoryBackPain.…);
                                     a number on a finding whose column is null makes it present; on an absent finding
                                     it is an error
    <Quantity>              double   a measurement (BasdaiFatigue … CrpMgPerL)

Columns the layout does not name are ignored; a column it names may be missing (all unknown).

``screen_records`` says how a record is screened: JSON lines, FHIR Bundles and the rows of a Parquet cohort the
columns cannot vouch for go through it, on the command line, a local Dask cluster or a remote one alike. A Parquet
partition is otherwise decided column by column (``columns.ColumnScreener``), which tests hold equal to it. A row that
cannot be read is reported (its row number, code and message) and never stops the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from .errors import InvalidFacts, SpakgError
from .knowledge import Knowledge
from .rules import STATUS_NAMES


@dataclass(frozen=True)
class Layout:
    findings: tuple[str, ...]
    numbers: tuple[tuple[str, str], ...]     # (concept id, quantity): every finding a number may ride on
    measurements: tuple[str, ...]

    @classmethod
    def of(cls, k: Knowledge) -> Layout:
        table = k.facts.quantities
        observable = tuple(c.id for c in k.facts.observable)
        numbers = tuple((c, q.name) for q in (table[n] for n in table.finding_names) for c in observable
                        if c in q.applies_to)
        return cls(observable, numbers, tuple(n for n in table.measured_names if n != "age"))

    def number_column(self, concept: str, quantity: str) -> str:
        return f"{concept}.{quantity}"


def screen_records(k: Knowledge, records: Iterable[dict | Exception], first_row: int = 0,
                   as_of: date | None = None) -> dict[str, list]:
    """Every rule's status for each record, as columns: ``row`` (its number in the input), ``id``, one column per
    rule (MET / NOT_MET / UNDETERMINED; null where the record could not be read) and ``error`` ("[CODE] message").
    A record may be a FHIR Bundle (read as of ``as_of``, else its timestamp, else today)."""
    rules = k.rules.order
    rows, ids, statuses, errors = screened(k, records, first_row, as_of)
    out: dict[str, list] = {"row": rows, "id": ids}
    for i, rule in enumerate(rules):
        out[rule.id] = [None if s is None else STATUS_NAMES[s[i]] for s in statuses]
    out["error"] = errors
    return out


def screened(k: Knowledge, records: Iterable[dict | Exception], first_row: int = 0, as_of: date | None = None
             ) -> tuple[list[int], list[str | None], list[tuple[int, ...] | None], list[str | None]]:
    """``screen_records``' work: each record's row number, id, statuses (rule codes; None if unreadable) and error."""
    read, decide = k.facts.read, k.rules.decide
    rows: list[int] = []
    ids: list[str | None] = []
    errors: list[str | None] = []
    statuses: list[tuple[int, ...] | None] = []
    for n, record in enumerate(records, first_row):
        rows.append(n)
        try:
            if isinstance(record, Exception):
                raise record
            if record.get("resourceType") == "Bundle":
                record = k.fhir.read(record, as_of).record
            ids.append(None if record.get("id") is None else str(record.get("id")))
            statuses.append(decide(read(record)))
            errors.append(None)
        except SpakgError as exc:
            if len(ids) < len(rows):
                ids.append(None)
            statuses.append(None)
            errors.append(f"[{exc.code}] {exc.message}")
        except (ValueError, TypeError, AttributeError) as exc:  # not a patient record at all
            if len(ids) < len(rows):
                ids.append(None)
            statuses.append(None)
            errors.append(f"[INVALID_FACTS] {type(exc).__name__}: {str(exc)[:200]}")
    return rows, ids, statuses, errors


def results_frame(rules: list[str], rows, ids: list[str | None], codes, errors: list[str | None]):
    """A screen's results as a DataFrame — ``row``, ``id``, a categorical column per rule made from its status codes
    (-1: a row that could not be read), ``error`` — what every partition of `spakg screen` returns."""
    import numpy as np
    import pandas as pd

    out = {"row": np.asarray(rows, dtype=np.int64), "id": pd.Series(ids, dtype=object)}
    for i, rule in enumerate(rules):
        out[rule] = pd.Categorical.from_codes(codes[:, i], categories=list(STATUS_NAMES))
    out["error"] = pd.Series(errors, dtype=object)
    return pd.DataFrame(out)


def status_codes(statuses: list[tuple[int, ...] | None], rules: int):
    """``screened``'s statuses as a matrix of codes (rows × rules), -1 across a row that could not be read."""
    import numpy as np

    unread = (-1,) * rules
    return np.array([unread if s is None else s for s in statuses], dtype=np.int8).reshape(len(statuses), rules)


def _missing(value) -> bool:
    """None, NaN or pandas' NA: a cell with nothing in it (whichever way pandas read the column)."""
    import pandas as pd

    return value is None or bool(pd.isna(value))


def records_from_frame(layout: Layout, frame) -> Iterator[dict | Exception]:
    """Patient records from a pandas DataFrame in the cohort layout (one partition)."""
    import numpy as np

    n = len(frame)
    columns = set(frame.columns)
    findings = [c for c in layout.findings if c in columns]
    if findings:
        values = frame[findings].astype("boolean")
        present = values.fillna(False).to_numpy(bool)
        absent = (~values).fillna(False).to_numpy(bool)
    else:
        present = absent = np.zeros((n, 0), bool)
    numbers = [(c, q) for c, q in layout.numbers if layout.number_column(c, q) in columns]
    number_values = float_columns(frame, [layout.number_column(c, q) for c, q in numbers], n)
    measured = [m for m in layout.measurements if m in columns]
    measured_values = float_columns(frame, measured, n)
    ages = float_columns(frame, ["age"], n)[:, 0] if "age" in columns else None
    ids = frame["id"].tolist() if "id" in columns else [None] * n
    sexes = frame["sex"].tolist() if "sex" in columns else [None] * n
    for r in range(n):
        try:
            stated: dict[str, dict] = {}
            for i in np.flatnonzero(present[r]):
                stated[findings[i]] = {"concept": findings[i]}
            for i in np.flatnonzero(absent[r]):
                stated[findings[i]] = {"concept": findings[i], "present": False}
            row_numbers = number_values[r]
            for j in np.flatnonzero(~np.isnan(row_numbers)):
                concept, quantity = numbers[j]
                finding = stated.setdefault(concept, {"concept": concept})
                if finding.get("present") is False:
                    raise InvalidFacts(f"{concept} is false but {concept}.{quantity} is given; a number belongs to a "
                                     f"present finding.")
                finding[quantity] = float(row_numbers[j])
            record: dict = {"findings": list(stated.values())}
            if not _missing(ids[r]):
                record["id"] = ids[r]
            if ages is not None and not math.isnan(ages[r]):
                record["age"] = float(ages[r])
            if not _missing(sexes[r]):
                record["sex"] = sexes[r]
            given = measured_values[r]
            if measured:
                record["measurements"] = [{"quantity": measured[j], "value": float(given[j])}
                                          for j in np.flatnonzero(~np.isnan(given))]
            yield record
        except SpakgError as exc:
            yield exc


def float_columns(frame, names: list[str], n: int):
    """The named columns as a float matrix (rows × names), NaN wherever a cell is empty (however pandas holds it)."""
    import numpy as np

    if not names:
        return np.full((n, 0), np.nan)
    return frame[names].astype("Float64").to_numpy(float, na_value=np.nan)


def cohort_schema(layout: Layout):
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("age", pa.float64()), ("sex", pa.string()),
                      *((c, pa.bool_()) for c in layout.findings),
                      *((layout.number_column(c, q), pa.float64()) for c, q in layout.numbers),
                      *((m, pa.float64()) for m in layout.measurements)])


def table_from_records(layout: Layout, records: Iterable[dict]):
    """Patient records (as JSON has them) as a table in the cohort layout."""
    import pyarrow as pa

    schema = cohort_schema(layout)
    columns: dict[str, list] = {name: [] for name in schema.names}
    for record in records:
        row = {"id": record.get("id"), "age": record.get("age"), "sex": record.get("sex")}
        for f in record.get("findings", []):
            row[f["concept"]] = f.get("present", True)
            for key, value in f.items():
                if key not in ("concept", "present"):
                    row[layout.number_column(f["concept"], key)] = float(value)
        for m in record.get("measurements", []):
            row[m["quantity"]] = float(m["value"])
        for name in schema.names:
            columns[name].append(row.get(name))
    return pa.table(columns, schema=schema)
