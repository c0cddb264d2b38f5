"""Issue 11: hostile requests against the real server on loopback. SPARQL cannot freeze the service, reach the
network or exhaust memory; every malformed request gets a coded JSON error; the logs hold no patient data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
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
    assert r.headers["content-type"].split(";")[0] in ("application/json", "application/graphql-response+json"), \
        (r.status_code, r.text[:200])
    body = r.json()
    assert body.get("data") is None and "Traceback" not in r.text
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
    # pyoxigraph's regex engine does not backtrack, so the regex bomb may simply answer: that is fine too
    codes = {coded(r) for r in responses if r.status_code != 200}
    assert codes <= {"QUERY_TIMEOUT", "SPARQL_BUSY", "RESULT_TOO_LARGE", "QUERY_TOO_LARGE"}, codes
    assert all(r.status_code in (200, 400, 503) for r in responses)
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
    assert coded(httpx.get(base + "/sparql", params={"query": ""})) == "BAD_REQUEST"  # bare GET: the description


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
    mutation_by_get = httpx.get(base + "/graphql", params={"query": "mutation { x }"})
    assert mutation_by_get.status_code == 405 and coded(mutation_by_get) == "METHOD_NOT_ALLOWED"  # the spec's answer
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
    # request ids are random hex: "133" may occur in one ("cc9e9f2dd7da4133") without anything having leaked
    text = re.sub(r"request [0-9a-f]{16}\b", "request <id>", text)
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
               "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST", "BAD_USER_INPUT"}
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
    assert "data" in answer or answer["errors"]  # a request error has no data, only errors
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


# ---------------------------------------------------------------- issue 23: hardening, round 2


def post_graphql(base: str, body: bytes) -> httpx.Response:
    return httpx.post(base + "/graphql", content=body, headers={"content-type": "application/json"}, timeout=30)


def test_a_lone_surrogate_in_operation_name_is_a_coded_400(server):
    base, _ = server
    r = post_graphql(base, b'{"query": "{ ontology { classCount } }", "operationName": "\\ud800"}')
    assert r.status_code == 400 and coded(r) == "BAD_REQUEST" and "surrogate" in r.json()["errors"][0]["message"]
    r = post_graphql(base, b'{"query": "{ concept(id: \\"\\udfff\\") { id } }"}')
    assert r.status_code == 400 and coded(r) == "BAD_REQUEST"


def test_two_operations_and_no_operation_name_is_a_coded_400_naming_them(server):
    base, _ = server
    r = post_graphql(base, b'{"query": "query A { ontology { classCount } } query B { rules { id } }"}')
    assert r.status_code == 400 and coded(r) == "BAD_REQUEST"
    assert "A, B" in r.json()["errors"][0]["message"]
    r = post_graphql(base, b'{"query": "query A { ontology { classCount } }", "operationName": "C"}')
    assert r.status_code == 400 and coded(r) == "BAD_REQUEST"


def test_an_inline_bundle_that_is_not_json_is_a_validation_error_not_internal(server):
    base, _ = server
    body = b'{"query": "{ assessFhir(bundle: \\"not json\\") { patientId } }"}'
    r = httpx.post(base + "/graphql", content=body, timeout=30, headers={
        "content-type": "application/json", "accept": "application/graphql-response+json"})
    assert r.status_code == 400 and coded(r) == "GRAPHQL_VALIDATION_FAILED"
    assert "JSONString" in r.json()["errors"][0]["message"]
    as_variable = httpx.post(base + "/graphql", timeout=30, json={
        "query": "query($b: JSONString!) { assessFhir(bundle: $b) { patientId } }", "variables": {"b": "not json"}})
    assert coded(as_variable) == "BAD_USER_INPUT"


def test_fifty_aliased_schema_selections_are_refused_before_they_run(server):
    base, _ = server
    query = "{ " + " ".join(f"a{i}: __schema {{ types {{ name fields {{ name }} }} }}" for i in range(50)) + " }"
    started = time.perf_counter()
    r = httpx.post(base + "/graphql", json={"query": query}, timeout=30)
    assert coded(r) == "QUERY_TOO_COMPLEX" and "__schema" in r.json()["errors"][0]["message"]
    assert len(r.content) < 2000 and time.perf_counter() - started < 10  # refused, not answered (983 KB before)


def test_too_many_form_fields_on_the_fhir_page_is_a_coded_400(server):
    base, _ = server
    r = httpx.post(base + "/assess/fhir", content="&".join(f"f{i}=x" for i in range(20)), timeout=30,
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "[TOO_MANY_FIELDS]" in r.text


def test_a_malformed_multipart_body_to_sparql_is_coded_json(server):
    base, _ = server
    r = httpx.post(base + "/sparql", content=b"--x\r\nbroken", timeout=30,
                   headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and coded(r)


def raw_request(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Bytes sent as they are (what httpx would refuse to send), the answer read to its end."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("why", "request_bytes", "status", "code"), [
    ("a Content-Length that is not a number", b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
     400, "BAD_HTTP_REQUEST"),
    ("a NUL in a header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "BAD_HTTP_REQUEST"),
    ("no HTTP at all", b"HELLO\r\n\r\n", 400, "BAD_HTTP_REQUEST"),
    ("a URL over 64 KiB", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
    ("a 16 MiB header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 << 20) + b"\r\n\r\n", 431,
     "HEADERS_TOO_LARGE"),
])
def test_http_that_uvicorn_answers_itself_is_coded_json_with_the_security_headers(server, why, request_bytes, status,
                                                                                   code):
    base, _ = server
    got, headers, body = raw_request(base, request_bytes)
    assert got == status and headers["content-type"] == "application/json", (why, got, body[:200])
    error = json.loads(body)["errors"][0]
    assert error["extensions"]["code"] == code and error["extensions"]["requestId"] == headers["x-request-id"]
    assert headers["x-content-type-options"] == "nosniff" and "default-src 'self'" in headers["content-security-policy"]
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200


def test_huge_headers_do_not_hold_up_other_requests(server):
    base, _ = server
    done = threading.Event()

    def flood() -> None:
        for _ in range(4):
            raw_request(base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 << 20) + b"\r\n\r\n")
        done.set()

    thread = threading.Thread(target=flood)
    thread.start()
    latencies = []
    while not done.is_set():
        started = time.perf_counter()
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        latencies.append(time.perf_counter() - started)
        time.sleep(0.02)
    thread.join()
    # refused after 64 KiB, the rest dropped unread: 256 MiB sent in all, and /healthz kept answering meanwhile
    assert latencies and max(latencies) < 2, latencies


def test_a_request_with_headers_under_the_limit_and_a_large_body_is_read(server):
    base, _ = server
    big = {"query": "{ ontology { classCount } }", "variables": {"pad": "x" * 200_000}}
    r = httpx.post(base + "/graphql", json=big, headers={"x-long": "y" * 30_000}, timeout=30)
    assert r.status_code == 200 and r.json()["data"]["ontology"]["classCount"] > 100


def test_internal_errors_are_coded_with_a_request_id_and_the_connection_survives(tmp_path):
    """A route that fails (a bug) on the real uvicorn stack: a coded JSON 500, its request id in the log with the place
    in the code and not the exception's message, and the keep-alive connection still usable."""
    script = tmp_path / "failing.py"
    script.write_text(
        "import sys, uvicorn\n"
        "from starlette.applications import Starlette\n"
        "from starlette.routing import Route\n"
        "from spakg.api.app import create_app\n"
        "from spakg.api.protocol import SpakgHttpProtocol\n"
        "async def boom(request):\n"
        "    raise ValueError('patient ' + request.query_params['id'])\n"
        "app = inner = create_app()\n"
        "while not isinstance(inner, Starlette):\n"
        "    inner = inner.app\n"
        "inner.router.routes.insert(0, Route('/boom', boom))\n"
        "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), http=SpakgHttpProtocol, log_level='info',\n"
        "            access_log=False)\n")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(script), str(port)], stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 90
            while time.time() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            with httpx.Client(base_url=base, timeout=30) as client:  # one keep-alive connection
                r = client.get("/boom", params={"id": "secret-4711"})
                assert r.status_code == 500 and coded(r) == "INTERNAL_SERVER_ERROR"
                request_id = r.json()["errors"][0]["extensions"]["requestId"]
                assert request_id and r.headers["x-request-id"] == request_id
                again = client.get("/healthz")
                assert again.status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert f"request {request_id} internal error ValueError" in text and "in boom" in text
    assert "secret-4711" not in text and "Traceback" not in text


def test_graphql_internal_errors_carry_the_request_id():
    from graphql import GraphQLError

    from spakg.api.view import format_error

    error = GraphQLError("boom", original_error=KeyError("patient 4711"))
    formatted = format_error(error, "abc123")
    assert formatted["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "abc123"}
    assert "4711" not in json.dumps(formatted)


def test_a_foreign_cors_preflight_a_symlinked_report_and_the_sdl_without_introspection(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    outside = tmp_path / "secret.json"
    outside.write_text('{"not": "a report"}')
    (reports / "leak.json").symlink_to(outside)
    app = "https://app.example"
    with running_server("--log-level", "warning", "--cors-origin", app, "--reports", str(reports),
                        "--no-introspection") as base:
        r = httpx.options(base + "/graphql", timeout=10, headers={
            "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
        assert r.status_code == 400 and coded(r) == "CORS_REFUSED" and "origin" in r.text.lower()
        ok = httpx.options(base + "/graphql", timeout=10, headers={"Origin": app, "Access-Control-Request-Method": "POST"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == app
        assert httpx.get(base + "/cohorts/leak.json", timeout=10).status_code == 404
        assert "leak" not in httpx.get(base + "/cohorts", timeout=10, headers={"accept": "text/html"}).text
        refused = gql(base, "{ __schema { types { name } } }")
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        sdl = httpx.get(base + "/graphql/schema.graphql", timeout=10)
        assert sdl.status_code == 200 and "type Query" in sdl.text  # served with introspection off
