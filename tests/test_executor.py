"""Issue 15: the compiled executor answers exactly what graphql-core answers: data, errors, their paths and
locations, null propagation — on every example query, on random patients and on queries made to fail."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from graphql import execute, parse

from spakg.api.executor import compile_query
from spakg.api.schema import schema
from spakg.bench import ASSESS
from spakg.synth import random_patient

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"
VARIABLES = json.loads((QUERIES / "variables.json").read_text())
SCHEMA = schema.graphql_schema


def both(knowledge, query: str, variables: dict | None = None, operation: str | None = None) -> tuple[dict, dict]:
    context = {"knowledge": lambda: knowledge, "last_reload_error": lambda: None}
    document = parse(query)
    plan = compile_query(SCHEMA, document, operation)
    assert plan is not None, "expected the compiled executor to take this query"
    ours = plan.execute(context, variables)
    theirs = execute(SCHEMA, document, variable_values=variables, context_value=context, operation_name=operation)
    return ours.formatted, theirs.formatted


@pytest.mark.parametrize("name", sorted(p.name for p in QUERIES.glob("*.graphql")))
def test_every_example_query(knowledge, name):
    ours, theirs = both(knowledge, (QUERIES / name).read_text(), VARIABLES.get(name, {}))
    assert ours == theirs


def test_random_patients_with_full_proofs_and_scores(knowledge):
    rng = random.Random(5)
    query = ASSESS.replace("disclaimer", "disclaimer scores { id low high terms { quantity contributionLow } "
                                          "categories { id status } } nextQuestions { quantity concept { id } }")
    for _ in range(40):
        ours, theirs = both(knowledge, query, {"p": {"findings": random_patient(knowledge, rng)}})
        assert ours == theirs


@pytest.mark.parametrize(("query", "variables"), [
    ('{ concept(id: "Uveitiss") { id } }', None),                                  # nullable field: null + error
    ('{ a: concept(id: "Uveitis") { id } b: rule(id: "Nope") { id } }', None),     # error in a sibling
    ("query($p: PatientInput!) { assess(patient: $p) { patientId } }",              # a resolver error on a non-null root
     {"p": {"findings": [{"concept": "BackPain", "ageAtOnset": -3}]}}),
    ("query($p: PatientInput!) { assess(patient: $p) { patientId } }", {"p": {"findings": "x"}}),  # variable coercion
    ('{ concepts(first: 500) { totalCount } }', None),                               # argument out of range
    ('query Q($n: Int) { concepts(first: $n) { edges { node { id } } } }', {"n": 2}),  # variable arguments
    ('{ concept(id: "Uveitis") { __typename id ...F } } fragment F on Concept { label parents { id } }', None),
])
def test_errors_paths_and_fragments(knowledge, query, variables):
    ours, theirs = both(knowledge, query, variables)
    assert ours == theirs


def test_what_it_does_not_compile_is_left_to_graphql_core():
    assert compile_query(SCHEMA, parse("{ __schema { types { name } } }"), None) is None
    assert compile_query(SCHEMA, parse('query($s: Boolean!) { ontology @include(if: $s) { classCount } }'), None) is None
    assert compile_query(SCHEMA, parse("query A { ontology { classCount } }"), "B") is None
