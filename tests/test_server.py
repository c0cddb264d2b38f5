"""Issue 4: the real server (uvicorn, subprocess) on loopback, driven over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from rdflib import Graph

from support import gql

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"


@pytest.fixture(scope="module")
def server(served):
    return served  # conftest's server with the defaults, shared with the other modules


def code(result: dict) -> str:
    return result["errors"][0]["extensions"]["code"]


def still_serving(base: str) -> None:
    assert gql(base, "{ ontology { classCount } }")["data"]["ontology"]["classCount"] > 50


VARIABLES = json.loads((QUERIES / "variables.json").read_text())


@pytest.mark.parametrize("name", sorted(p.name for p in QUERIES.glob("*.graphql")))
def test_every_example_query_runs(server, name):
    result = gql(server, (QUERIES / name).read_text(), VARIABLES.get(name, {}))
    assert "errors" not in result, result.get("errors")
    assert result["data"]


def test_assess_contract(server):
    q = (QUERIES / "assess-patient.graphql").read_text()
    a = gql(server, q, VARIABLES["assess-patient.graphql"])["data"]["assess"]
    assert a["patientId"] == "demo-1" and a["ontologyVersion"] == "0.1.0"
    assert a["disclaimer"].startswith("Please note, these posts are for general information only")
    by_rule = {i["rule"]["id"]: i for i in a["inferences"]}
    ibp = by_rule["AsasIbpCriteria"]
    assert ibp["status"] == "MET" and ibp["concept"]["id"] == "InflammatoryBackPain"
    assert ibp["explanation"]["summary"].startswith("Inflammatory back pain by ASAS criteria: met")
    assert by_rule["AsasAxialSpaCriteria"]["status"] == "MET"
    quote = by_rule["ArticleInflammatoryPattern"]["explanation"]["sources"][0]
    text = (ROOT / "seeds" / "inflammatory-back-pain.txt").read_bytes().decode()
    assert text[quote["start"]:quote["end"]] == quote["quote"]


def test_inferences_filter_and_next_questions(server):
    q = """query($p: PatientInput!) { assess(patient: $p) {
        met: inferences(status: MET) { rule { id } }
        und: inferences(status: UNDETERMINED) { rule { id } status }
        nextQuestions { concept { id } quantity settles { id } } } }"""
    a = gql(server, q, {"p": {"findings": [{"concept": "BackPain"}]}})["data"]["assess"]
    assert a["met"] == [] and all(i["status"] == "UNDETERMINED" for i in a["und"])
    assert a["nextQuestions"] and a["nextQuestions"][0]["settles"]


def test_concept_by_local_name_curie_and_iri(server):
    for ref in ("MorningStiffness", "spakg:MorningStiffness", "https://w3id.org/spakg/MorningStiffness"):
        c = gql(server, "query($id: ID!) { concept(id: $id) { id usedByRules { id } } }", {"id": ref})["data"]["concept"]
        assert c["id"] == "MorningStiffness" and {"BerlinIbpCriteria", "CalinIbpCriteria"} <= {r["id"] for r in c["usedByRules"]}


def test_relations_both_ways_and_path(server):
    c = gql(server, '{ concept(id: "MorningStiffness") { related { label direction target { id } } } }')["data"]["concept"]
    assert {"label": "is a typical feature of", "direction": "INCOMING", "target": {"id": "InflammatoryBackPain"}} in c["related"]
    path = gql(server, '{ path(from: "Uveitis", to: "AxialSpondyloarthritis") { from { id } relation to { id } } }')["data"]["path"]
    assert path[0]["from"]["id"] == "Uveitis" and path[-1]["to"]["id"] == "AxialSpondyloarthritis"
    assert len(path) <= 3


def test_concepts_search_and_cursor_pagination(server):
    q = "query($a: String) { concepts(search: \"pain\", first: 3, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"
    first = gql(server, q)["data"]["concepts"]
    second = gql(server, q, {"a": first["pageInfo"]["endCursor"]})["data"]["concepts"]
    assert first["totalCount"] > 3 and first["pageInfo"]["hasNextPage"]
    ids = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert len(ids) == len(set(ids)) == 6


@pytest.mark.parametrize("findings, expected", [
    ([{"concept": "ImprovementWithRest"}, {"concept": "WorseningWithRest"}], "CONTRADICTORY_FACTS"),
    ([{"concept": "BackPain", "ageAtOnset": -4}], "INVALID_VALUE"),
    ([{"concept": "MorningStifness"}], "UNKNOWN_CONCEPT"),
    ([{"concept": "BackPain"}] * 201, "TOO_MANY_FINDINGS"),
])
def test_bad_patients_get_coded_errors_and_the_server_keeps_serving(server, findings, expected):
    result = gql(server, "query($p: PatientInput!) { assess(patient: $p) { patientId } }", {"p": {"findings": findings}})
    assert code(result) == expected
    assert "Traceback" not in json.dumps(result)
    still_serving(server)


def test_unknown_concept_suggests(server):
    result = gql(server, '{ concept(id: "uveitiss") { id } }')
    assert code(result) == "UNKNOWN_CONCEPT" and "Uveitis" in result["errors"][0]["message"]


def test_unknown_rule(server):
    assert code(gql(server, '{ rule(id: "NoSuchRule") { id } }')) == "UNKNOWN_RULE"


def test_query_too_deep(server):
    nested = "id"
    for _ in range(20):
        nested = f"parents {{ {nested} }}"
    assert code(gql(server, f'{{ concept(id: "AnteriorUveitis") {{ {nested} }} }}')) == "QUERY_TOO_DEEP"
    still_serving(server)


def test_query_too_complex(server):
    aliases = " ".join(f'a{i}: concept(id: "Uveitis") {{ id }}' for i in range(60))
    assert code(gql(server, f"{{ {aliases} }}")) == "QUERY_TOO_COMPLEX"
    fields = " ".join(f'c{i}: concepts(first: 100) {{ edges {{ node {{ id label definition synonyms xrefs {{ code }} }} }} }}' for i in range(45))
    assert code(gql(server, f"{{ {fields} }}")) == "QUERY_TOO_COMPLEX"
    # the same field 500 times: refused by the limits before standard validation (quadratic in it) runs
    result = gql(server, "{ ontology { " + " classCount" * 500 + " } }")
    assert code(result) == "QUERY_TOO_COMPLEX" and "500 fields" in result["errors"][0]["message"]


def test_payload_too_large(server):
    r = httpx.post(server + "/graphql", json={"query": "{ rules { id } }", "pad": "x" * 300_000}, timeout=30)
    assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    still_serving(server)


def test_invalid_query_and_syntax_errors_are_coded(server):
    assert code(gql(server, "{ nosuchfield }")) == "GRAPHQL_VALIDATION_FAILED"
    assert code(gql(server, "{ concept(id: ")) == "GRAPHQL_PARSE_FAILED"


def test_get_queries_and_graphiql(server):
    r = httpx.get(server + "/graphql", params={"query": "{ ontology { version } }"})
    assert r.json()["data"]["ontology"]["version"] == "0.1.0"
    page = httpx.get(server + "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


@pytest.mark.parametrize("media, fmt", [("text/turtle", "turtle"), ("application/rdf+xml", "xml"), ("application/ld+json", "json-ld")])
def test_ontology_is_content_negotiated(server, media, fmt):
    r = httpx.get(server + "/ontology", headers={"accept": media})
    assert r.headers["content-type"].startswith(media)
    assert len(Graph().parse(data=r.text, format=fmt)) > 2000


def test_sparql_select_and_update_refused(server):
    q = """PREFIX spakg: <https://w3id.org/spakg/> SELECT ?f WHERE { spakg:InflammatoryBackPain spakg:hasTypicalFeature ?f }"""
    r = httpx.get(server + "/sparql", params={"query": q})
    rows = r.json()["results"]["bindings"]
    assert len(rows) == 5
    upd = httpx.post(server + "/sparql", data={"query": "INSERT DATA { <a:b> <a:c> <a:d> }"})
    assert upd.status_code == 403 and upd.json()["errors"][0]["extensions"]["code"] == "UPDATE_REFUSED"
    bad = httpx.get(server + "/sparql", params={"query": "SELEKT"})
    assert bad.status_code == 400


def test_with_a_real_graphql_client(server):
    from gql import Client
    from gql import gql as document
    from gql.transport.requests import RequestsHTTPTransport

    client = Client(transport=RequestsHTTPTransport(url=server + "/graphql"), fetch_schema_from_transport=True)
    result = client.execute(document('{ rule(id: "AsasIbpCriteria") { threshold concludes { id } citations } }'))
    assert result["rule"]["threshold"] == 4 and result["rule"]["citations"][0].startswith("Sieper J")


def test_parse_cache_pays_once_per_distinct_query():
    from spakg.api.limits import Limits
    from spakg.api.schema import schema
    from spakg.api.view import QueryCache

    cache = QueryCache(schema.graphql_schema, Limits())
    first, _ = cache.get("{ rules { id } }")
    second, _ = cache.get("{ rules { id } }")
    assert first is second and (cache.hits, cache.misses) == (1, 1)


def test_disease_activity_scores_over_http(server):
    q = (QUERIES / "disease-activity.graphql").read_text()
    a = gql(server, q, VARIABLES["disease-activity.graphql"])["data"]["assess"]
    scores = {s["id"]: s for s in a["scores"]}
    basdai = scores["Basdai"]
    assert basdai["value"] == pytest.approx(4.4)  # (6 + 5 + 3 + 3 + (5 + 5) / 2) / 5
    assert {c["id"]: c["status"] for c in basdai["categories"]} == {"BasdaiActiveDisease": "MET"}
    # no CRP: ASDAS-CRP is an interval, at least 1.664 (CRP taken as its floor, 2) — past low activity, but high
    # or very high until the CRP is known, and the CRP is what the next questions ask for
    asdas = scores["AsdasCrp"]
    assert asdas["value"] is None and asdas["low"] == pytest.approx(1.664 + 0.579 * 1.0986123, abs=1e-6)
    assert {c["id"]: c["status"] for c in asdas["categories"]} == {
        "AsdasCrpInactiveDisease": "NOT_MET", "AsdasCrpLowDiseaseActivity": "NOT_MET",
        "AsdasCrpHighDiseaseActivity": "UNDETERMINED", "AsdasCrpVeryHighDiseaseActivity": "UNDETERMINED"}
    [crp] = [t for t in asdas["terms"] if t["quantity"] == "CrpMgPerL"]
    assert crp["value"] is None and crp["floor"] == 2 and crp["transform"] == "ln(x + 1)"
    assert "CrpMgPerL" in {n["quantity"] for n in a["nextQuestions"]}
    assert any(c.startswith("Lukas") for c in asdas["citations"])  # the formula's paper; cut-offs cite Machado


@pytest.mark.parametrize(("measurements", "expected"), [
    ([{"quantity": "BasdaiFatigue", "value": 11}], "INVALID_VALUE"),
    ([{"quantity": "CrpMgPerL", "value": -1}], "INVALID_VALUE"),
    ([{"quantity": "BasdaiFatige", "value": 1}], "INVALID_VALUE"),
    ([{"quantity": "BasdaiFatigue", "value": 1}, {"quantity": "BasdaiFatigue", "value": 2}], "CONTRADICTORY_FACTS"),
])
def test_bad_measurements_get_coded_errors(server, measurements, expected):
    result = gql(server, "query($p: PatientInput!) { assess(patient: $p) { patientId } }",
                 {"p": {"findings": [], "measurements": measurements}})
    assert code(result) == expected, result
    still_serving(server)


def test_the_query_cache_is_bounded_by_bytes_and_its_estimate_is_near_the_real_figure():
    import gc
    import tracemalloc

    from spakg.api.limits import Limits
    from spakg.api.schema import schema
    from spakg.api.view import QueryCache

    text = (QUERIES / "assess-patient.graphql").read_text()
    cache = QueryCache(schema.graphql_schema, Limits(query_cache_bytes=2 << 20))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        entries = [cache.entry(f"{text}\n# {n}") for n in range(8)]
        for entry in entries:
            cache.compile(entry, None)
        gc.collect()
        real = (tracemalloc.get_traced_memory()[0] - before) / len(entries)
    finally:
        tracemalloc.stop()
    estimate = entries[0].weight
    assert 0.8 * real < estimate < 2 * real, (estimate, real)  # what the cache's bound counts is what documents hold
    for n in range(200):  # many distinct documents: the oldest leave, the bytes held stay under the bound
        cache.get(f"{text}\n# more {n}")
    assert cache.bytes <= 2 << 20 and len(cache._entries) < 200
    assert cache.get(f"{text}\n# more 199")[0] is not None  # the newest is still there


def test_a_document_over_the_validation_budget_is_refused_with_a_code():
    from spakg.api.limits import Limits
    from spakg.api.schema import schema
    from spakg.api.view import QueryCache

    cache = QueryCache(schema.graphql_schema, Limits(max_validation_seconds=0.0))
    query = "{ " + " ".join(f"a{i}: rules {{ id label kind }}" for i in range(40)) + " }"
    document, errors = cache.get(query)
    assert document is None and errors[0].extensions["code"] == "QUERY_TOO_COMPLEX"
    assert "to validate" in errors[0].message
    assert QueryCache(schema.graphql_schema, Limits()).get(query)[0] is not None
