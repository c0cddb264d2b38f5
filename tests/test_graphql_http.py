"""Issue 25 item 4: GraphQL over HTTP as the spec (graphql-http's server audits) and third-party clients expect it,
against the real server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from support import running_server

AUDIT = Path(__file__).parent / "graphql_http" / "audit.mjs"
STRICT = "application/graphql-response+json"
NPM_CACHE = Path(os.environ.get("SPAKG_TEST_CACHE", Path.home() / ".cache" / "spakg-tests")) / "graphql-http"


@pytest.fixture(scope="module")
def base():
    with running_server("--log-level", "warning") as url:  # the audits introspect (__type with a variable)
        yield url


def post(base: str, body, accept: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **({"accept": accept} if accept else {})}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(base + "/graphql", content=content, headers=headers, timeout=30)


def test_graphql_http_server_audits_pass_with_no_warning_and_no_error(base):
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm and node are needed to install and run graphql-http's audits (apt-get install npm)")
    if not (NPM_CACHE / "node_modules" / "graphql-http").is_dir():
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NPM_CACHE), "graphql-http@1",
                        "graphql@16"], check=True, capture_output=True, timeout=600)
    shutil.copy(AUDIT, NPM_CACHE / "audit.mjs")
    run = subprocess.run(["node", str(NPM_CACHE / "audit.mjs"), base + "/graphql"], capture_output=True, text=True,
                         timeout=300, check=True)
    results = json.loads(run.stdout)
    statuses = Counter(r["status"] for r in results)
    bad = [r for r in results if r["status"] in ("warn", "error")]
    assert len(results) > 50 and not bad, bad
    assert statuses["ok"] == len(results), [r for r in results if r["status"] != "ok"]  # the notices too


@pytest.mark.parametrize("body", [b'{"query": "{ nosuchfield }"}', b'{"query": "{ ontology { "}',
                                  b'{"query": "query($n: Int!) { concepts(first: $n) { totalCount } }", '
                                  b'"variables": {"n": "ten"}}'])
def test_request_errors_carry_no_data_and_are_400_in_the_new_media_type(base, body):
    strict = post(base, body, STRICT)
    assert strict.status_code == 400 and strict.headers["content-type"].startswith(STRICT)
    assert "data" not in strict.json() and strict.json()["errors"][0]["extensions"]["code"]
    legacy = post(base, body)  # application/json: the spec's compatibility answer is 200, still without data
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert "data" not in legacy.json()


def test_variable_coercion_is_coded_apart_from_validation(base):
    q = "query($n: Int!) { concepts(first: $n) { totalCount } }"
    coercion = post(base, {"query": q, "variables": {"n": "ten"}}).json()["errors"][0]
    assert coercion["extensions"]["code"] == "BAD_USER_INPUT" and "$n" in coercion["message"]
    missing = post(base, {"query": q}).json()["errors"][0]
    assert missing["extensions"]["code"] == "BAD_USER_INPUT"
    validation = post(base, {"query": "query($n: Int!) { concepts(first: $n) { nope } }", "variables": {"n": 1}})
    assert validation.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    ok = post(base, {"query": q, "variables": {"n": 1}}).json()
    assert ok["data"]["concepts"]["totalCount"] > 100


def test_a_missing_query_is_400_whatever_the_accept(base):
    for accept in (None, "application/json", STRICT, "*/*"):
        r = post(base, {"variables": {}}, accept)
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST", accept
        assert "data" not in r.json()


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "application/json"),
    ("*/*", "application/json"),
    (STRICT, STRICT),
    (f"application/json;q=0.5, {STRICT};q=0.9", STRICT),
    (f"application/json;q=0.9, {STRICT};q=0.5", "application/json"),
    (f"{STRICT};q=0, */*;q=0.1", "application/json"),
    ("application/*", "application/json"),
])
def test_accept_is_negotiated_with_its_q_values(base, accept, expected):
    r = post(base, {"query": "{ ontology { classCount } }"}, accept)
    assert r.status_code == 200 and r.headers["content-type"].startswith(expected), r.headers["content-type"]


def test_neither_json_type_accepted_is_a_coded_406(base):
    r = post(base, {"query": "{ ontology { classCount } }"}, "text/csv, application/json;q=0")
    assert r.status_code == 406 and r.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


def test_the_sdl_is_served_and_printed_by_spakg_schema(base):
    """(With introspection off too: tests/test_hostile.py.)"""
    sdl = httpx.get(base + "/graphql/schema.graphql", timeout=30)
    assert sdl.status_code == 200 and sdl.headers["content-type"].startswith("text/plain")
    from graphql import build_schema

    served = build_schema(sdl.text)
    assert {"assess", "assessFhir", "concept", "rules"} <= set(served.query_type.fields)
    printed = subprocess.run([sys.executable, "-m", "spakg.cli", "schema"], capture_output=True, text=True,
                             check=True, timeout=120).stdout
    assert printed == sdl.text


def test_a_query_over_get_answers_with_its_variables(base):
    ok = httpx.get(base + "/graphql", params={"query": "{ ontology { classCount } }"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["data"]["ontology"]["classCount"] > 100
    with_variables = httpx.get(base + "/graphql", params={
        "query": "query($n: Int) { concepts(first: $n) { edges { node { id } } } }", "variables": '{"n": 2}'})
    assert len(with_variables.json()["data"]["concepts"]["edges"]) == 2


def test_a_real_client_validates_against_the_served_sdl(base):
    from gql import Client
    from gql import gql as document
    from gql.transport.requests import RequestsHTTPTransport
    from graphql import build_schema

    schema = build_schema(httpx.get(base + "/graphql/schema.graphql", timeout=30).text)
    client = Client(transport=RequestsHTTPTransport(url=base + "/graphql"), schema=schema)
    result = client.execute(document('{ rule(id: "AsasIbpCriteria") { threshold } }'))  # validated client-side too
    assert result["rule"]["threshold"] == 4


@pytest.mark.parametrize(("accept", "expected"), [
    ("text/html;q=0.9, application/json;q=0.8", "application/json"),
    ("application/json;q=bad", None),
    ("", "application/json"),
    ("APPLICATION/JSON", "application/json"),
])
def test_negotiation_reads_rfc_9110_accept_headers(accept, expected):
    from spakg.api.negotiate import choose

    assert choose(accept, [STRICT, "application/json"], "application/json") == expected
