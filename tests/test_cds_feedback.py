"""Issue 21: CDS Hooks feedback (POST /cds-services/spakg-axspa/feedback), override reasons on cards, and one error
shape on every /cds-services route, on the real (open) server over loopback.

The feedback bodies are the specification's own shapes (CDS Hooks 2.0, "Feedback": suggestion accepted, overridden
without a reason, overridden with an overrideReason and a userComment), built from the cards the server answered.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from spakg.api.cdshooks import MAX_BODY_BYTES, request_from_bundle
from support import running_server

FHIR = Path(__file__).resolve().parent / "fhir"
SERVICE = "/cds-services/spakg-axspa"
FEEDBACK = SERVICE + "/feedback"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("feedback") / "server.log"
    with running_server(log=log) as base:
        yield base, log


def cards(base: str) -> list[dict]:
    """Cards for a record with the back pain story only: an info card with order suggestions, as in test_cdshooks."""
    body = request_from_bundle(json.loads((FHIR / "negative-hla-b27-normal-bloods.json").read_text()))
    observations = body["prefetch"]["observations"]
    observations["entry"] = [e for e in observations["entry"] if e["resource"]["id"] in ("insidious", "exercise")]
    r = httpx.post(base + SERVICE, json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["cards"]


def counts(base: str) -> dict:
    return httpx.get(base + "/healthz", timeout=10).json()["cdsHooks"]["feedback"]


def send(base: str, body: object) -> httpx.Response:
    return httpx.post(base + FEEDBACK, json=body, timeout=10)


def test_the_service_is_open_without_cds_trust_and_says_so(server):
    base, log = server
    assert "CDS Hooks open to any caller (no --cds-trust)" in log.read_text()
    assert httpx.get(base + "/healthz", timeout=10).json()["cdsHooks"]["callers"] == "open"


def test_every_card_offers_override_reasons_as_codings_with_a_display(server):
    base, _ = server
    answered = cards(base)
    assert answered
    for card in answered:
        reasons = card["overrideReasons"]
        assert reasons and len({r["code"] for r in reasons}) == len(reasons)
        for r in reasons:  # Coding: code and system REQUIRED; display REQUIRED for override reasons
            assert r["code"] and r["system"].startswith("https://") and r["display"]


def test_an_accepted_suggestion_is_counted(server):
    base, _ = server
    card = next(c for c in cards(base) if c.get("suggestions"))
    before = counts(base)
    r = send(base, {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                                  "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                                  "outcomeTimestamp": "2026-12-02T10:05:31Z"}]})
    assert r.status_code == 200 and r.json() == {"counted": 1}
    after = counts(base)
    assert (after["accepted"], after["acceptedSuggestions"], after["requests"]) == \
        (before["accepted"] + 1, before["acceptedSuggestions"] + 1, before["requests"] + 1)


def test_overridden_cards_are_counted_by_reason_and_no_comment_is_kept(server):
    base, _ = server
    card = cards(base)[0]
    reason = card["overrideReasons"][1]
    before = counts(base)
    comment = f"patient Jane Example {uuid.uuid4()} seen by rheumatology last week"
    r = send(base, {"feedback": [
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2020-12-11T00:00:00Z"},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:05:31.52Z",
         "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}, "userComment": comment}},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:05:31+01:00",
         "overrideReason": {"reason": {"code": "d7ecf885", "system": "https://example.com/cds-hooks/override-reason-system"}}},
    ]})
    assert r.status_code == 200 and r.json() == {"counted": 3}
    after = counts(base)
    assert after["overridden"] == before["overridden"] + 3
    assert after["overrideReasons"][reason["code"]] == before["overrideReasons"][reason["code"]] + 1
    assert after["overrideReasons"]["other"] == before["overrideReasons"]["other"] + 1  # the EHR's own reason
    assert after["withComment"] == before["withComment"] + 1
    assert comment not in httpx.get(base + "/healthz", timeout=10).text


ITEM = {"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:05:31Z"}


@pytest.mark.parametrize(("body", "says"), [
    ({}, '{"feedback": [...]}'),
    ({"feedback": []}, "at least one item"),
    ({"feedback": [{**ITEM, "outcome": "ignored"}]}, "'accepted' or 'overridden'"),
    ({"feedback": [{k: v for k, v in ITEM.items() if k != "card"}]}, "feedback[0].card"),
    ({"feedback": [ITEM, {k: v for k, v in ITEM.items() if k != "outcomeTimestamp"}]}, "feedback[1].outcomeTimestamp"),
    ({"feedback": [{**ITEM, "outcomeTimestamp": "2026-12-02"}]}, "RFC 3339"),
    ({"feedback": [{**ITEM, "outcomeTimestamp": "2026-12-02T10:05:31"}]}, "with its zone"),
    ({"feedback": [{**ITEM, "outcome": "accepted"}]}, "acceptedSuggestions is required"),
    ({"feedback": [{**ITEM, "overrideReason": {"reason": "patient refused"}}]}, "must be a Coding"),
    ({"feedback": [{**ITEM, "outcome": "accepted", "acceptedSuggestions": [{"id": "x"}],
                    "overrideReason": {"userComment": "no"}}]}, "outcome 'overridden' only"),
    ({"feedback": [ITEM] * 101}, "At most 100"),
])
def test_a_bad_feedback_body_is_refused_with_a_code_and_nothing_of_it_is_counted(server, body, says):
    base, _ = server
    before = counts(base)
    r = send(base, body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID_FEEDBACK" and says in r.json()["error"]["message"], r.text
    assert counts(base) == before


def _one_shape(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


def test_every_cds_services_route_answers_errors_in_one_shape(server):
    base, _ = server
    _one_shape(httpx.post(base + "/cds-services/nope/feedback", json={"feedback": [ITEM]}, timeout=10), 404,
               "UNKNOWN_SERVICE")
    _one_shape(httpx.get(base + SERVICE, timeout=10), 405, "METHOD_NOT_ALLOWED")
    _one_shape(httpx.get(base + FEEDBACK, timeout=10), 405, "METHOD_NOT_ALLOWED")
    _one_shape(httpx.post(base + "/cds-services", json={}, timeout=10), 405, "METHOD_NOT_ALLOWED")
    _one_shape(httpx.delete(base + SERVICE, timeout=10), 405, "METHOD_NOT_ALLOWED")
    _one_shape(httpx.get(base + "/cds-services/a/b/c", timeout=10), 404, "NOT_FOUND")
    _one_shape(httpx.post(base + FEEDBACK, content=b"{nope", timeout=10), 400, "BAD_REQUEST")
    _one_shape(httpx.post(base + SERVICE, json={"hook": "order-sign"}, timeout=10), 400, "UNSUPPORTED_HOOK")
    _one_shape(httpx.post(base + FEEDBACK, content=b"{" + b" " * MAX_BODY_BYTES + b"}", timeout=30), 413,
               "PAYLOAD_TOO_LARGE")
    assert httpx.get(base + "/cds-services/", timeout=10).json()["services"][0]["id"] == "spakg-axspa"
    # the rest of the service keeps its own (GraphQL) shape
    assert httpx.get(base + "/nowhere", timeout=10).json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
