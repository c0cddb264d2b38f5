"""spakg bench's parts run against the shipped ontology (figures are printed by `spakg bench`, never asserted)."""

from __future__ import annotations

from spakg.bench import bench_hermit, bench_owlrl, bench_reasonable, bench_reasoner, cohort


def test_reasoner_bench_runs_every_stage(knowledge):
    figures = bench_reasoner(knowledge, cohort(knowledge, 30))
    assert set(figures) == {"outcomes", "vector", "proof_json", "next_questions", "json_bytes"}
    assert all(v > 0 for v in figures.values())


def test_the_baselines_run_per_patient_and_batched_offline(knowledge):
    # the edit file's owl:imports must not send owlready2 (or the others) to the web
    patients = cohort(knowledge, 4)
    for baseline in (bench_owlrl, bench_reasonable, bench_hermit):
        assert baseline(knowledge, patients, 1) > 0 and baseline(knowledge, patients, 4) > 0


def test_the_fhir_bench_reads_bundles_of_the_sizes_it_reports(knowledge):
    from spakg.bench_fhir import bench_bundles, long_record

    assert len(long_record(knowledge, 2000)["entry"]) == 2000
    figures = bench_bundles(knowledge, sizes=(10, 100), repeat=1)
    assert set(figures) == {10, 100} and all(f["read_ms"] > 0 and f["proof_ms"] > 0 for f in figures.values())
    # the long record is still the vignette's patient: its extra entries are superseded or not read, never lost
    reading = knowledge.fhir.read(long_record(knowledge, 100))
    assert {u.reason for u in reading.unused} == {"SUPERSEDED", "UNKNOWN_CODE"}


def test_the_healthz_figure_is_taken_while_runaway_sparql_runs():
    from spakg.bench import bench_healthz_under_sparql
    from support import running_server

    with running_server("--sparql-timeout", "1", "--log-level", "warning") as base:
        figures = bench_healthz_under_sparql(base, probes=5)
    assert 0 < figures["p50_ms"] <= figures["max_ms"]
