"""spakg bench's parts run against the shipped ontology (figures are printed by `spakg bench`, never asserted)."""

from __future__ import annotations

from spakg.bench import bench_hermit, bench_reasoner, patients


def test_reasoner_bench_assesses_a_small_cohort(knowledge):
    cohort = patients(knowledge, 20)
    figures = bench_reasoner(knowledge, cohort)
    assert set(figures) == {"status", "proof", "steps_per_patient"}
    assert figures["status"] > 0 and figures["proof"] > 0 and figures["steps_per_patient"] > len(knowledge.rules.rules)


def test_hermit_baseline_loads_the_merged_ontology_offline(knowledge):
    # the edit file's owl:imports must not send owlready2 to the web
    assert bench_hermit(knowledge, patients(knowledge, 1)) > 0
