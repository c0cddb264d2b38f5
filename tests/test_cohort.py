"""Issue 14: cohort screening. The one batch function answers what the one-patient path answers (every vignette,
10,000 random patients, and property-based cases), through JSON lines and the Parquet layout alike; a real local Dask
cluster runs a screen; a malformed row is reported with its row number and costs no other row its result."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spakg.cohort import Layout, records_from_frame, screen_records, table_from_records
from spakg.cohort_report import build_report
from spakg.columns import ColumnScreener
from spakg.resources import vignettes_dir
from spakg.rules import STATUS_NAMES
from spakg.screen import screen
from spakg.synth import clinic_patient, random_patient
from spakg.vignettes import load_vignettes


def one_by_one(k, records: list[dict]) -> list[dict[str, str]]:
    return [{r.id: STATUS_NAMES[s] for r, s in zip(k.rules.order, k.rules.decide(k.facts.read(rec)), strict=True)}
            for rec in records]


def by_row(k, columns: dict[str, list]) -> list[dict[str, str]]:
    return [{r.id: columns[r.id][i] for r in k.rules.order} for i in range(len(columns["row"]))]


def through_parquet(k, records: list[dict], tmp_path) -> dict[str, list]:
    """Both Parquet paths — records rebuilt from the rows, and the column screener the workers run — must agree."""
    path = tmp_path / "cohort.parquet"
    layout = Layout.of(k)
    pq.write_table(table_from_records(layout, records), path)
    frame = pq.read_table(path).to_pandas()
    by_records = screen_records(k, records_from_frame(layout, frame))
    by_columns = ColumnScreener(k, layout).screen(frame)
    assert by_columns == by_records
    return by_columns


def test_every_vignette_screens_as_it_assesses(knowledge, tmp_path):
    vignettes = load_vignettes(vignettes_dir())
    records = [v.patient for v in vignettes]
    expected = [v.outcomes(knowledge) for v in vignettes]
    assert by_row(knowledge, screen_records(knowledge, records)) == expected
    assert by_row(knowledge, through_parquet(knowledge, records, tmp_path)) == expected


def test_ten_thousand_random_patients_screen_as_they_assess(knowledge, tmp_path):
    rng = random.Random(14)
    records = [{"id": f"r{i}", "findings": random_patient(knowledge, rng)} for i in range(5000)]
    records += [clinic_patient(knowledge, rng, i) for i in range(5000)]
    expected = one_by_one(knowledge, records)
    assert by_row(knowledge, screen_records(knowledge, records)) == expected
    parquet = through_parquet(knowledge, records, tmp_path)
    assert by_row(knowledge, parquet) == expected and parquet["id"] == [r["id"] for r in records]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), clinic=st.booleans())
def test_any_generated_patient_screens_as_it_assesses(knowledge, tmp_path_factory, seed, clinic):
    rng = random.Random(seed)
    record = clinic_patient(knowledge, rng) if clinic else {"findings": random_patient(knowledge, rng)}
    expected = one_by_one(knowledge, [record])
    assert by_row(knowledge, screen_records(knowledge, [record])) == expected
    assert by_row(knowledge, through_parquet(knowledge, [record], tmp_path_factory.mktemp("p"))) == expected


BAD_LINES = ['{"findings": [{"concept": "BackPain", "ageAtOnset": 300}]}',   # impossible number
             "this is not JSON",
             '{"findings": [{"concept": "NoSuchFinding"}]}',
             '{"findings": [{"concept": "ImprovementWithRest"}, {"concept": "WorseningWithRest"}]}',
             "[1, 2]"]


def test_a_real_local_dask_cluster_screens_and_reports_bad_rows_by_number(knowledge, tmp_path):
    rng = random.Random(3)
    good = [clinic_patient(knowledge, rng, i) for i in range(300)]
    lines = [json.dumps(r) for r in good]
    bad_rows = {17: BAD_LINES[0], 100: BAD_LINES[1], 150: BAD_LINES[2], 222: BAD_LINES[3], 299: BAD_LINES[4]}
    for row, text in sorted(bad_rows.items()):
        lines.insert(row, text)
    cohort = tmp_path / "cohort.jsonl"
    cohort.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = screen(cohort, tmp_path / "out", workers=2)
    table = pq.read_table(tmp_path / "out").to_pandas().sort_values("row")
    assert run.patients == len(lines) == len(table)
    errors = dict(zip(table["row"], table["error"], strict=True))
    assert {r for r, e in errors.items() if isinstance(e, str)} == set(bad_rows)
    assert errors[17].startswith("[INVALID_VALUE]") and errors[100].startswith("[INVALID_FACTS]")
    assert errors[150].startswith("[UNKNOWN_CONCEPT]") and errors[222].startswith("[CONTRADICTORY_FACTS]")
    good_rows = table[table["error"].isna()]
    expected = one_by_one(knowledge, good)
    got = [{r.id: row[r.id] for r in knowledge.rules.order} for _, row in good_rows.iterrows()]
    assert got == expected and list(good_rows["id"]) == [r["id"] for r in good]


def test_parquet_on_dask_matches_and_the_report_adds_up(knowledge, tmp_path, dask_scheduler):
    rng = random.Random(4)
    records = [clinic_patient(knowledge, rng, i) for i in range(2000)]
    layout = Layout.of(knowledge)
    source = tmp_path / "cohort.parquet"
    pq.write_table(table_from_records(layout, records), source, row_group_size=500)
    screen(source, tmp_path / "out", scheduler=dask_scheduler)
    table = pq.read_table(tmp_path / "out").to_pandas().sort_values("row")
    assert list(table["row"]) == list(range(2000))
    assert [{r.id: row[r.id] for r in knowledge.rules.order} for _, row in table.iterrows()] == one_by_one(knowledge, records)
    report = build_report(knowledge, tmp_path / "out", source)
    for rule in report.rules:
        assert sum(rule.counts.values()) == 2000
    asas = next(r for r in report.rules if r.id == "AsasAxialSpaCriteria")
    assert asas.counts.get("MET", 0) == sum(1 for v in table["AsasAxialSpaCriteria"] if v == "MET")
    assert report.questions and report.sampled > 0
    html = report.as_html()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html


def test_spakg_assess_streams_json_lines(knowledge, tmp_path):
    rng = random.Random(5)
    records = [clinic_patient(knowledge, rng, i) for i in range(50)]
    cohort = tmp_path / "c.jsonl"
    cohort.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", str(cohort), "--detail", "outcomes"],
                         capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [ln.pop("id") for ln in lines] == [r["id"] for r in records]
    assert lines == one_by_one(knowledge, records)
    assert run.stderr == ""  # no progress bar when stderr is not a terminal
    summary = subprocess.run([sys.executable, "-m", "spakg.cli", "assess", str(cohort)], capture_output=True, text=True,
                             timeout=120)
    first = json.loads(summary.stdout.splitlines()[0])
    assert set(first["rules"]["AsasIbpCriteria"]) == {"status", "summary"}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_spakg_synth_writes_a_cohort_every_row_of_which_reads(knowledge, tmp_path, suffix):
    out = tmp_path / f"c{suffix}"
    subprocess.run([sys.executable, "-m", "spakg.cli", "synth", "--n", "300", "--out", str(out)], check=True,
                   capture_output=True, timeout=120)
    if suffix == ".jsonl":
        columns = screen_records(knowledge, (json.loads(line) for line in out.read_text().splitlines()))
    else:
        columns = screen_records(knowledge, records_from_frame(Layout.of(knowledge), pq.read_table(out).to_pandas()))
    assert len(columns["row"]) == 300 and set(columns["error"]) == {None}


def test_a_cohort_without_ids_or_sexes_screens_on_dask(knowledge, tmp_path, dask_scheduler):
    """All-null id and sex columns come back from Parquet as pandas NA, which is not a value to compare."""
    rng = random.Random(8)
    records = [{"findings": random_patient(knowledge, rng)} for _ in range(400)]
    source = tmp_path / "c.parquet"
    pq.write_table(table_from_records(Layout.of(knowledge), records), source, row_group_size=100)
    screen(source, tmp_path / "out", scheduler=dask_scheduler)
    table = pq.read_table(tmp_path / "out").to_pandas().sort_values("row")
    assert table["error"].isna().all() and table["id"].isna().all()
    assert [{r.id: row[r.id] for r in knowledge.rules.order} for _, row in table.iterrows()] == one_by_one(knowledge, records)


def test_the_column_screener_matches_with_measurements_and_scores(knowledge, tmp_path):
    """Disease-activity inputs (intervals while one is missing) through the numpy decisions as through the record path."""
    rng = random.Random(21)
    names = ["BasdaiFatigue", "BasdaiSpinalPain", "BasdaiPeripheralPain", "BasdaiEnthesealTenderness",
             "BasdaiStiffnessSeverity", "BasdaiStiffnessDuration", "PatientGlobal", "CrpMgPerL"]
    records = []
    for i in range(2000):
        record = clinic_patient(knowledge, rng, i)
        record["measurements"] = [{"quantity": n, "value": round(rng.uniform(0, 10 if n != "CrpMgPerL" else 60), 1)}
                                  for n in names if rng.random() < 0.7]
        records.append(record)
    expected = one_by_one(knowledge, records)
    assert by_row(knowledge, through_parquet(knowledge, records, tmp_path)) == expected
    assert {s for row in expected for s in (row["AsdasCrpHighDiseaseActivity"], row["BasdaiActiveDisease"])} == \
        {"MET", "NOT_MET", "UNDETERMINED"}  # the categories are exercised every way


def test_a_directory_of_fhir_bundles_screens_on_dask_as_each_bundle_assesses(knowledge, tmp_path, dask_scheduler):
    """Issue 14's third input (with issue 13): FHIR Bundle files, read by the workers; a file that is not JSON or not
    a readable Bundle is reported with its row and name, and costs no other file its result."""
    from datetime import date

    from spakg.fhir.assess import assess_bundle
    from spakg.synth import write_cohort

    folder = tmp_path / "bundles"
    write_cohort(knowledge, 120, str(folder), seed=5, fhir="bundles")
    (folder / "synthetic-40.json").write_text("{not json", encoding="utf-8")
    (folder / "synthetic-70.json").write_text(json.dumps({"resourceType": "Bundle", "type": "message"}), encoding="utf-8")
    run = screen(folder, tmp_path / "out", scheduler=dask_scheduler, as_of=date(2026, 11, 29))
    table = pq.read_table(tmp_path / "out").to_pandas().sort_values("row")
    assert run.patients == 120 == len(table)
    errors = {i: e for i, e in zip(table["row"], table["error"], strict=True) if isinstance(e, str)}
    assert set(errors) == {40, 70}  # files in natural order: synthetic-0 … synthetic-119
    assert "synthetic-40.json is not a JSON file" in errors[40] and errors[70].startswith("[INVALID_FACTS]")
    for _, row in table[table["error"].isna()].iterrows():
        bundle = json.loads((folder / f"{row['id']}.json").read_text())
        a = assess_bundle(knowledge, bundle, date(2026, 11, 29))
        assert {r.id: row[r.id] for r in knowledge.rules.order} == \
            {r.id: STATUS_NAMES[s] for r, s in zip(knowledge.rules.order, a.statuses, strict=True)}
    report = build_report(knowledge, tmp_path / "out", folder, as_of=date(2026, 11, 29))
    assert report.sampled > 0 and report.questions


def test_a_fhir_bulk_data_export_is_regrouped_by_patient_on_dask_and_screens_as_each_bundle(knowledge, tmp_path,
                                                                                             dask_scheduler):
    """NDJSON by resource type, as a $export writes it: the lines are regrouped by patient on a LocalCluster; every
    patient screens as their Bundle assesses; lines that name no patient come back as one row saying so."""
    from datetime import date

    from spakg.fhir.assess import assess_bundle
    from spakg.fhir.writer import bundle_from_record
    from spakg.synth import write_cohort

    export = tmp_path / "export"
    n = write_cohort(knowledge, 150, str(export), seed=9, fhir="bulk")
    assert sorted(p.name for p in export.iterdir()) == ["Condition.ndjson", "Observation.ndjson", "Patient.ndjson"]
    with (export / "Observation.ndjson").open("a", encoding="utf-8") as f:
        f.write("{not json\n\n")
        f.write(json.dumps({"resourceType": "Observation", "id": "loose", "status": "final",
                            "code": {"coding": [{"system": "https://w3id.org/spakg", "code": "InsidiousOnset"}]}}) + "\n")
    with (export / "Condition.ndjson").open("a", encoding="utf-8") as f:  # a patient whose Patient was not exported
        f.write(json.dumps({"resourceType": "Condition", "id": "g1", "subject": {"reference": "https://ehr.example/fhir/Patient/ghost"},
                            "verificationStatus": {"coding": [{"code": "confirmed"}]},
                            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "9631008"}]}}) + "\n")
    as_of = date(2026, 11, 29)
    run = screen(export, tmp_path / "out", scheduler=dask_scheduler, as_of=as_of)
    table = pq.read_table(tmp_path / "out").to_pandas().sort_values("row")
    assert run.patients == n + 2 == len(table) and list(table["row"]) == list(range(n + 2))
    [bad] = [e for e in table["error"] if isinstance(e, str)]
    assert bad.startswith("[INVALID_FACTS] 2 line(s) in Observation.ndjson are not JSON or name no patient")
    by_id = {row["id"]: row for _, row in table.iterrows() if isinstance(row["id"], str)}
    assert by_id["ghost"]["AsasAxialSpaCriteria"] == "UNDETERMINED" and not isinstance(by_id["ghost"]["error"], str)
    report = build_report(knowledge, tmp_path / "out", export, as_of=as_of)
    assert report.patients == n + 2 and report.unreadable == 1 and report.sampled > 0 and report.questions
    rng = random.Random(9)
    for i in range(n):
        record = clinic_patient(knowledge, rng, i)
        a = assess_bundle(knowledge, bundle_from_record(knowledge, record, as_of), as_of)
        row = by_id[record["id"]]
        assert {r.id: row[r.id] for r in knowledge.rules.order} == \
            {r.id: STATUS_NAMES[s] for r, s in zip(knowledge.rules.order, a.statuses, strict=True)}, record["id"]


def test_rows_the_columns_cannot_vouch_for_say_what_the_record_path_says(knowledge, tmp_path):
    """A number out of range or on an absent finding, an unknown sex, a stated age below what the back pain implies,
    findings that contradict each other: each row is reported with the record path's own error, the others decided."""
    rng = random.Random(8)
    bad = [{"id": "range", "findings": [{"concept": "BackPain", "ageAtOnset": 300}]},
           {"id": "absent", "findings": [{"concept": "InflammatoryBackPain", "present": False, "durationMonths": 4}]},
           {"id": "sex", "sex": "UNKNOWN", "findings": [{"concept": "BackPain"}]},
           {"id": "young", "age": 20, "findings": [{"concept": "BackPain", "ageAtOnset": 30}]},
           {"id": "clash", "findings": [{"concept": "ImprovementWithRest"}, {"concept": "WorseningWithRest"}]}]
    records = [clinic_patient(knowledge, rng, i) for i in range(40)]
    for n, record in enumerate(bad):
        records.insert(7 * n + 3, record)
    columns = through_parquet(knowledge, records, tmp_path)  # asserts the column screener equals the record path
    errors = {records[i]["id"]: columns["error"][i] for i in range(len(records)) if columns["error"][i]}
    assert set(errors) == {r["id"] for r in bad}
    assert all(e.startswith(("[INVALID_VALUE]", "[INVALID_FACTS]", "[CONTRADICTORY_FACTS]")) for e in errors.values())
    assert all(columns[r.id][i] is None for i, record in enumerate(records) if record in bad for r in knowledge.rules.order)
    assert by_row(knowledge, columns)[0] == one_by_one(knowledge, records[:1])[0]


def test_world_patients_state_any_number_of_findings_without_a_contradiction(knowledge):
    """The findings-per-patient curve of `spakg bench --cohort` needs patients with up to every observable class."""
    from spakg.synth import world_patient

    rng = random.Random(3)
    everything = len(knowledge.facts.observable)
    for n in (0, 1, 10, everything, everything + 5):
        for _ in range(20):
            findings = world_patient(knowledge, rng, n)
            assert len(findings) == min(n, everything) == len({f["concept"] for f in findings})
            knowledge.facts.patient(findings)  # never ContradictoryFacts
