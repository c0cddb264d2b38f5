"""Issue 13: the CDS Hooks 2.0 service and GraphQL assessFhir on the real server, over HTTP on loopback.

Requests and responses are checked against the specification's shapes (CDS Hooks 2.0, "Discovery", "Calling a CDS
Service", "CDS Service Response", "Card Attributes"), written out below as plain checks.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from spakg.api.cdshooks import request_from_bundle
from support import gql, running_server

ROOT = Path(__file__).resolve().parent.parent
FHIR = ROOT / "tests" / "fhir"
SERVICE = "/cds-services/spakg-axspa"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("cds") / "server.log"
    with running_server("--log-level", "info", log=log) as base:
        yield base, log


def hook_request(bundle_file: str, **changes) -> dict:
    """A patient-view call whose prefetch is the hand-written Bundle, split as a CDS client would send it."""
    return {**request_from_bundle(json.loads((FHIR / bundle_file).read_text())), **changes}


def check_card(card: dict) -> None:
    """Card Attributes (CDS Hooks 2.0): required summary (<140 characters), indicator, source.label; detail is Markdown;
    suggestions need selectionBehavior; links are absolute with a label."""
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    assert urlsplit(card["source"]["url"]).scheme in ("http", "https")
    uuid.UUID(card["uuid"])
    if "suggestions" in card:
        assert card["selectionBehavior"] in ("at-most-one", "any")
        for s in card["suggestions"]:
            assert s["label"]
            for action in s["actions"]:
                assert action["type"] in ("create", "update", "delete") and action["description"]
                assert action["resource"]["resourceType"] == "ServiceRequest"
    for link in card.get("links", []):
        assert link["label"] and link["type"] in ("absolute", "smart") and urlsplit(link["url"]).scheme.startswith("http")


def call(base: str, body: object) -> httpx.Response:
    return httpx.post(base + SERVICE, json=body, timeout=30)


def test_discovery_lists_the_service_with_its_prefetch_templates(server):
    base, _ = server
    r = httpx.get(base + "/cds-services", timeout=10)
    assert r.status_code == 200
    [service] = r.json()["services"]
    assert {"hook", "description", "id"} <= set(service)  # REQUIRED by the specification
    assert (service["id"], service["hook"]) == ("spakg-axspa", "patient-view")
    assert service["prefetch"] == {"patient": "Patient/{{context.patientId}}",
                                   "conditions": "Condition?patient={{context.patientId}}",
                                   "observations": "Observation?patient={{context.patientId}}"}


def test_a_met_referral_gives_a_warning_card_that_explains_itself(server):
    base, _ = server
    r = call(base, hook_request("negative-hla-b27-normal-bloods.json"))
    assert r.status_code == 200
    cards = r.json()["cards"]
    for card in cards:
        check_card(card)
    warnings = [c for c in cards if c["indicator"] == "warning"]
    assert {c["source"]["url"].rsplit("/", 1)[1] for c in warnings} == {"ArticleReferralAdvice", "AsasReferralRecommendation"}
    detail = next(c for c in warnings if c["source"]["url"].endswith("/AsasReferralRecommendation"))["detail"]
    assert "met" in detail and "Observation/hla-b27" in detail  # the record's facts, by resource
    article = next(c for c in warnings if c["source"]["url"].endswith("/ArticleReferralAdvice"))["detail"]
    assert "Observation/night" in article and "Observation/hla-b27" not in article  # only the facts the rule read
    assert article.index("You should consider specialist assessment") < article.index("starts before age 40")
    assert "Please note, these posts are for general information only" in detail  # the article's disclaimer
    assert "not a diagnosis" in detail
    # the permalink opens the same patient in the explorer
    link = warnings[0]["links"][0]["url"]
    page = httpx.get(link, timeout=10, headers={"accept": "text/html"})
    assert page.status_code == 200 and "Referral" in page.text
    assert dict(parse_qsl(urlsplit(link).query))["f.HLAB27Positive"] == "no"
    reading = r.json()["extension"]["org.w3id.spakg.reading"]
    assert reading["unused"] == [] and reading["patient"] == "Patient/pt-29f"


def test_an_undetermined_referral_gives_an_info_card_with_the_questions_and_orders(server):
    base, _ = server
    body = hook_request("negative-hla-b27-normal-bloods.json")
    observations = body["prefetch"]["observations"]
    # keep only the back pain story: HLA-B27, bloods and imaging unknown
    observations["entry"] = [e for e in observations["entry"] if e["resource"]["id"] in ("insidious", "exercise")]
    cards = call(base, body).json()["cards"]
    for card in cards:
        check_card(card)
    info = [c for c in cards if c["indicator"] == "info"]
    assert info, cards
    asas = next(c for c in info if c["source"]["url"].endswith("/AsasReferralRecommendation"))
    assert "undetermined" in asas["summary"]
    orders = {s["actions"][0]["resource"]["code"]["coding"][0]["code"] for s in asas["suggestions"]}
    assert "HLAB27Test" in orders and orders <= {"HLAB27Test", "BloodTest", "MriOfSacroiliacJoints",
                                                 "XRayOfSacroiliacJoints", "Ultrasound"}
    assert "HLA-B27" in asas["detail"]


def test_no_card_when_no_referral_rule_applies(server):
    base, _ = server
    body = hook_request("past-psoriasis-symmetric-arthritis-rheumatoid-factor.json")
    r = call(base, body)
    assert r.status_code == 200 and r.json()["cards"] == []
    unused = r.json()["extension"]["org.w3id.spakg.reading"]["unused"]
    assert [u["reason"] for u in unused] == ["UNKNOWN_CODE"]


def test_a_missing_prefetch_is_412_as_the_specification_says(server):
    base, _ = server
    body = hook_request("established-ankylosing-spondylitis.json")
    del body["prefetch"]["observations"]
    r = call(base, body)
    assert r.status_code == 412 and r.json()["error"]["code"] == "PREFETCH_MISSING"
    assert "observations" in r.json()["error"]["message"]
    r = call(base, hook_request("established-ankylosing-spondylitis.json", prefetch=None))
    assert r.status_code == 412
    body = hook_request("established-ankylosing-spondylitis.json")
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome",
                                      "issue": [{"severity": "error", "code": "timeout", "diagnostics": "FHIR server timed out"}]}
    r = call(base, body)
    assert r.status_code == 412 and "timed out" in r.json()["error"]["message"]


def test_null_prefetch_means_no_data_not_an_error(server):
    base, _ = server
    body = hook_request("established-ankylosing-spondylitis.json")
    body["prefetch"]["conditions"] = None
    body["prefetch"]["observations"] = None
    r = call(base, body)
    assert r.status_code == 200 and r.json()["cards"] == []


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"hook": "order-sign"}, 400, "UNSUPPORTED_HOOK"),
    ({"hookInstance": None}, 400, "BAD_REQUEST"),
    ({"context": {"userId": "Practitioner/x"}}, 400, "BAD_REQUEST"),
    ({"context": {"patientId": "someone-else"}}, 400, "PATIENT_MISMATCH"),
])
def test_a_malformed_call_is_refused_with_a_code(server, change, status, code):
    base, _ = server
    r = call(base, hook_request("established-ankylosing-spondylitis.json", **change))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)


def test_bad_bodies_unknown_services_and_oversized_calls_are_coded_and_the_server_keeps_serving(server):
    base, _ = server
    r = httpx.post(base + SERVICE, content=b"{not json", headers={"content-type": "application/json"}, timeout=10)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "BAD_REQUEST")
    r = httpx.post(base + "/cds-services/nope", json={}, timeout=10)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "UNKNOWN_SERVICE")
    r = httpx.post(base + SERVICE, content=b"{" + b" " * (2 * 1024 * 1024) + b"}", timeout=10)
    assert r.status_code == 413
    assert httpx.get(base + "/cds-services", timeout=10).status_code == 200


def test_a_record_that_contradicts_itself_gets_a_card_saying_so(server):
    base, _ = server
    body = hook_request("established-ankylosing-spondylitis.json")
    body["prefetch"]["observations"]["entry"].append({"resource": {
        "resourceType": "Observation", "id": "hla-again", "status": "final", "subject": {"reference": "Patient/pt-35m"},
        "code": {"coding": [{"system": "https://w3id.org/spakg", "code": "HLAB27Positive"}]}, "valueBoolean": False}})
    [card] = call(base, body).json()["cards"]
    check_card(card)
    assert card["source"]["topic"]["code"] == "CONTRADICTORY_FACTS"
    assert "Observation/hla-b27" in card["detail"] and "Observation/hla-again" in card["detail"]


def test_no_patient_data_reaches_the_log(server):
    base, log = server
    call(base, hook_request("negative-hla-b27-normal-bloods.json"))
    text = log.read_text()
    assert "pt-29f" not in text and "HLAB27" not in text and "1997-11-29" not in text


def test_graphql_assess_fhir_returns_the_assessment_with_its_reading(server):
    base, _ = server
    q = """query($b: JSONString!) { assessFhir(bundle: $b) {
        patientId disclaimer
        inferences(status: MET) { rule { id } explanation { items { finding { concept { id }
            statedBy { concept { id } present resources } } } } }
        fhir { patient asOf stated { concept { id } present resources } unused { resource reason } } } }"""
    text = (FHIR / "established-ankylosing-spondylitis.json").read_text()
    a = gql(base, q, {"b": text})["data"]["assessFhir"]
    assert a["patientId"] == "pt-35m" and a["fhir"]["asOf"] == "2026-11-29"
    assert {s["concept"]["id"]: s["resources"] for s in a["fhir"]["stated"]}["AnteriorUveitis"] == ["Condition/uveitis"]
    stated = [s for i in a["inferences"] for it in i["explanation"]["items"] if it["finding"]
              for s in it["finding"]["statedBy"]]
    assert stated and all(s["resources"] for s in stated)
    bad = gql(base, q, {"b": json.dumps({"resourceType": "Bundle", "type": "batch"})})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_FACTS"


def test_a_browser_client_is_let_in_only_from_the_origins_given():
    sandbox = "https://sandbox.cds-hooks.org"
    preflight = {"Origin": sandbox, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    with running_server("--log-level", "warning", "--cors-origin", sandbox, "--workers", "1") as base:
        r = httpx.options(base + SERVICE, headers=preflight, timeout=10)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == sandbox
        r = httpx.post(base + SERVICE, json=hook_request("established-ankylosing-spondylitis.json"),
                       headers={"Origin": sandbox}, timeout=30)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == sandbox
        r = httpx.options(base + SERVICE, headers={**preflight, "Origin": "https://elsewhere.example"}, timeout=10)
        assert "access-control-allow-origin" not in r.headers


def test_without_cors_origins_no_page_elsewhere_may_read_the_answers(server):
    base, _ = server
    r = httpx.get(base + "/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"}, timeout=10)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
