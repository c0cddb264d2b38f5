"""Issue 11: hostile requests against the real server on loopback. SPARQL cannot freeze the service, reach the
network or exhaust memory; every malformed request gets a coded JSON error; the logs hold no patient data."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import free_port, gql, running_server

FREEZE = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
HUGE = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }"
BACKTRACK = 'SELECT * WHERE { FILTER regex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "(a+)+$") }'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile") / "serve.log"
    with running_server("--sparql-timeout", "2", "--log-level", "info", log=log) as base:
        yield base, log


def coded(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/json"), (r.status_code, r.text[:200])
    body = r.json()
    assert body["data"] is None and "Traceback" not in r.text
    return body["errors"][0]["extensions"]["code"]


def test_a_runaway_query_is_stopped_and_the_service_keeps_answering_meanwhile(server):
    base, _ = server

    async def run() -> tuple[list[httpx.Response], list[bool], httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            hostile = [asyncio.create_task(client.get(base + "/sparql", params={"query": q}))
                       for q in [FREEZE, BACKTRACK, HUGE, FREEZE] * 2]
            await asyncio.sleep(0.5)  # the two workers are busy, six queries queue
            pending = []  # how fast it answers is `spakg bench --server`'s figure (a timing here would fail on a busy machine)
            for _ in range(20):
                assert (await client.get(base + "/healthz")).status_code == 200
                pending.append(not all(t.done() for t in hostile))
                await asyncio.sleep(0.05)
            answer = await client.post(base + "/graphql", json={"query": "{ ontology { classCount } }"})
            return list(await asyncio.gather(*hostile)), pending, answer

    responses, pending, answer = asyncio.run(run())
    assert pending[0], "the first /healthz waited for the hostile queries to end"
    assert answer.json()["data"]["ontology"]["classCount"] > 100
    codes = {coded(r) for r in responses}
    assert codes <= {"QUERY_TIMEOUT", "SPARQL_BUSY", "RESULT_TOO_LARGE", "QUERY_TOO_LARGE"}, codes
    assert all(r.status_code in (400, 503) for r in responses)
    # the killed workers were replaced: an ordinary query answers again
    ok = httpx.get(base + "/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["boolean"] is True


def test_federation_is_refused_before_evaluation(server):
    base, _ = server
    hits = []

    class Trap(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    trap = HTTPServer(("127.0.0.1", port), Trap)
    threading.Thread(target=trap.serve_forever, daemon=True).start()
    try:
        for query in (f"SELECT * {{ SERVICE <http://127.0.0.1:{port}/> {{ ?s ?p ?o }} }}",
                      f"SELECT * {{ ?s ?p ?o FILTER EXISTS {{ SERVICE <http://127.0.0.1:{port}/> {{ ?s ?p ?o }} }} }}",
                      f"SELECT * FROM <http://127.0.0.1:{port}/g> {{ ?s ?p ?o }}",
                      f"SELECT * FROM NAMED <http://127.0.0.1:{port}/g> {{ GRAPH ?g {{ ?s ?p ?o }} }}"):
            r = httpx.get(base + "/sparql", params={"query": query}, timeout=30)
            assert r.status_code == 400 and coded(r) == "FEDERATION_REFUSED", query
    finally:
        trap.shutdown()
    assert hits == []


def test_the_worker_cannot_open_a_socket_even_if_a_query_got_through():
    port = free_port()
    script = ("from spakg.api.sparql_worker import seal_network\n"
              "import urllib.request\n"
              "seal_network()\n"
              f"urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)\n")
    with socket_listening(port):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "network access is disabled in the SPARQL worker" in run.stderr


class socket_listening:
    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()


@pytest.mark.parametrize("query", [
    "SELECT * WHERE { ?s ?p ?o } LIMIT 99999999999999999999999",
    'SELECT (REPLACE("a", "(", "b") AS ?x) WHERE {}',
    "CONSTRUCT WHERE { ?s a ?o } LIMIT 5",
    "SELECT * WHERE { ?s ?p ?o . ?a ?b ?c } LIMIT 20000",
    "SELEKT * WHERE { ?s ?p ?o }",
])
def test_every_sparql_failure_is_coded(server, query):
    base, _ = server
    r = httpx.get(base + "/sparql", params={"query": query}, timeout=30)
    assert r.status_code < 500 or r.status_code == 503
    if r.status_code != 200:
        assert coded(r)


def test_sparql_update_and_odd_requests_are_coded(server):
    base, _ = server
    assert coded(httpx.post(base + "/sparql", data={"update": "DROP ALL"})) == "UPDATE_REFUSED"
    assert coded(httpx.post(base + "/sparql", content=b"INSERT DATA { <a:b> <a:c> <a:d> }",
                            headers={"content-type": "application/sparql-query"})) == "UPDATE_REFUSED"
    assert coded(httpx.post(base + "/sparql", content=b"\xff\xfe", headers={"content-type": "application/sparql-query"})) \
        == "BAD_REQUEST"
    assert coded(httpx.post(base + "/sparql", content=b"x", headers={"content-type": "text/plain"})) == "UNSUPPORTED_MEDIA_TYPE"
    assert coded(httpx.get(base + "/sparql")) == "BAD_REQUEST"


MALFORMED = [
    ("a JSON array (batching)", b"[]", "application/json", "BATCH_NOT_SUPPORTED"),
    ("null", b"null", "application/json", "BAD_REQUEST"),
    ("a number", b"42", "application/json", "BAD_REQUEST"),
    ("a string", b'"{ ontology { classCount } }"', "application/json", "BAD_REQUEST"),
    ("invalid UTF-8", b'{"query": "\xff"}', "application/json", "BAD_REQUEST"),
    ("JSON nested 990 deep", b"[" * 990 + b"]" * 990, "application/json", "BAD_REQUEST"),
    ("an integer of 5000 digits", b'{"query": "{ ontology { classCount } }", "variables": {"n": ' + b"9" * 5000 + b"}}",
     "application/json", "BAD_REQUEST"),
    ("raw newlines in a JSON string", b'{"query": "{ ontology {\n classCount } }"}', "application/json", "BAD_REQUEST"),
    ("an unsupported content type", b"query=x", "application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE"),
    ("variables not an object", b'{"query": "{ ontology { classCount } }", "variables": [1]}', "application/json",
     "BAD_REQUEST"),
    ("operationName not a string", b'{"query": "{ ontology { classCount } }", "operationName": 3}', "application/json",
     "BAD_REQUEST"),
    ("no query", b"{}", "application/json", "BAD_REQUEST"),
]


@pytest.mark.parametrize(("why", "body", "content_type", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_graphql_requests_get_a_coded_json_error(server, why, body, content_type, expected):
    base, _ = server
    r = httpx.post(base + "/graphql", content=body, headers={"content-type": content_type})
    assert 400 <= r.status_code < 500 or r.status_code == 200
    assert coded(r) == expected
    assert "set_int_max_str_digits" not in r.text


def test_graphql_oddities_are_coded(server):
    base, _ = server
    assert coded(httpx.get(base + "/graphql", params={"query": "mutation { x }"})) in ("BAD_REQUEST",
                                                                                      "GRAPHQL_VALIDATION_FAILED")
    unknown_op = httpx.post(base + "/graphql", json={"query": "query A { ontology { classCount } }", "operationName": "B"})
    assert coded(unknown_op)
    assert "errors" not in gql(base, "{ concepts(first: null) { totalCount } }")
    assert coded(httpx.get(base + "/graphql", params={"query": "{ ontology { classCount } }", "variables": "{"})) \
        == "BAD_REQUEST"
    assert coded(httpx.put(base + "/graphql", json={})) == "METHOD_NOT_ALLOWED"
    assert coded(httpx.get(base + "/no/such/page")) == "NOT_FOUND"
    assert coded(httpx.get(base + "/ontology", params={"format": "yaml"})) == "BAD_REQUEST"


def test_security_headers_request_ids_and_no_server_banner(server):
    base, _ = server
    r = httpx.get(base + "/healthz")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "server" not in r.headers
    assert len(r.headers["x-request-id"]) >= 8
    assert httpx.get(base + "/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert httpx.get(base + "/healthz", headers={"x-request-id": "bad id!"}).headers["x-request-id"] != "bad id!"


def test_a_failed_assessment_leaves_no_patient_data_in_the_log(server):
    base, log = server
    secret_id, age = "patient-7c1d9e", 133
    result = gql(base, "query($p: PatientInput!) { assess(patient: $p) { patientId } }",
                 {"p": {"id": secret_id, "findings": [{"concept": "BackPain", "ageAtOnset": age},
                                                      {"concept": "UlcerativeColitis"}]}})
    assert result["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    time.sleep(0.3)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "INVALID_VALUE" in text  # the request was logged, with its code
    for leaked in (secret_id, str(age), "UlcerativeColitis", "ageAtOnset", "assess(patient"):
        assert leaked not in text, leaked


def test_production_switches_turn_off_introspection_and_graphiql():
    with running_server("--no-introspection", "--no-graphiql") as base:
        refused = gql(base, "{ __schema { types { name } } }")
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection" in refused["errors"][0]["message"].lower()
        page = httpx.get(base + "/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        assert httpx.get(base + "/graphiql", headers={"accept": "text/html"}).status_code == 404
        assert gql(base, "{ ontology { classCount } }")["data"]["ontology"]["classCount"] > 100


def test_several_worker_processes_share_the_port():
    with running_server("--workers", "2", "--log-level", "warning") as base:
        async def many() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                rs = await asyncio.gather(*[client.post(base + "/graphql", json={"query": "{ ontology { classCount } }"})
                                            for _ in range(40)])
                return [r.status_code for r in rs]

        assert set(asyncio.run(many())) == {200}



KNOWN_CODES = {"UNKNOWN_CONCEPT", "CONTRADICTORY_FACTS", "INVALID_VALUE", "INVALID_FACTS", "TOO_MANY_FINDINGS",
               "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"}
CONCEPTS = ["BackPain", "InsidiousOnset", "NightPain", "AwakeningSecondHalfOfNight", "HLAB27Positive", "Psoriasis",
            "CurrentPsoriasis", "SacroiliitisOnMRI", "RadiographicSacroiliitis", "ImprovementWithRest",
            "WorseningWithRest", "Dactylitis", "AnkylosingSpondylitis", "NonRadiographicAxialSpondyloarthritis",
            "spakg:Uveitis", "https://w3id.org/spakg/Enthesitis", "NoSuchThing", "", "BackPain\u0000", "x" * 300]
NUMBERS = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 39.999, 40, 120, 121, 1e308]))
FINDING = st.fixed_dictionaries({"concept": st.sampled_from(CONCEPTS)}, optional={
    "present": st.one_of(st.booleans(), st.none()), "ageAtOnset": NUMBERS, "durationMonths": NUMBERS,
    "durationMinutes": NUMBERS})
MEASUREMENT = st.fixed_dictionaries({"quantity": st.sampled_from(["BasdaiFatigue", "CrpMgPerL", "AsdasCrp", "Basdai",
                                                                  "age", "Nope"]), "value": NUMBERS})
PATIENT = st.fixed_dictionaries({"findings": st.lists(FINDING, max_size=12)}, optional={
    "id": st.text(max_size=20), "age": NUMBERS, "sex": st.sampled_from(["MALE", "FEMALE", "OTHER"]),
    "measurements": st.lists(MEASUREMENT, max_size=6)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patient=PATIENT)
def test_any_patient_gets_an_assessment_or_a_coded_error(server, patient):
    base, _ = server
    r = httpx.post(base + "/graphql", timeout=30, content=json.dumps(
        {"query": "query($p: PatientInput!) { assess(patient: $p) { inferences { status } scores { low high } } }",
         "variables": {"p": patient}}, allow_nan=True), headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text[:300]
    body = r.json()
    if body.get("errors"):
        assert {e["extensions"]["code"] for e in body["errors"]} <= KNOWN_CODES, body["errors"]
    else:
        assert len(body["data"]["assess"]["inferences"]) == 22


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["query", "variables", "operationName", "extensions", "x"]), inner, max_size=4)), max_leaves=12).map(
    lambda v: json.dumps(v).encode())))
def test_any_body_gets_a_coded_json_answer(server, body):
    base, _ = server
    r = httpx.post(base + "/graphql", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code < 500 and r.headers["content-type"].startswith("application/json"), r.text[:200]
    answer = r.json()
    assert "data" in answer
    for error in answer.get("errors", []):
        assert error["extensions"]["code"]


def test_a_worker_that_has_answered_many_queries_still_answers():
    """The CPU-time limit is per query, not per worker lifetime. Its own server: a wall-clock limit of 4 s (CPU 5 s)
    leaves a query of 0.3 s of CPU room on a busy machine, and 40 of them are 6 s of CPU for each of the two
    workers, past a lifetime limit."""
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?a ?d ?e }"  # about 0.3 s of CPU each
    with running_server("--sparql-timeout", "4", "--log-level", "warning") as base:
        statuses = [httpx.get(base + "/sparql", params={"query": query}, timeout=30).status_code for _ in range(40)]
    assert set(statuses) == {200}, statuses
