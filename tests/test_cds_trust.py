"""Issue 21: `spakg serve --cds-trust ISSUER=JWKS` lets only trusted EHRs call the CDS Hooks service.

The real server on loopback, with keys made here (RS384 and ES384, as CDS Hooks 2.0 recommends) and tokens signed as an
EHR would sign them (CDS Hooks 2.0, "Trusting CDS Clients"); a JWK Set served over HTTP by a loopback server started
here. Each refusal is its own test, with its code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from spakg.api.cdshooks import request_from_bundle
from support import free_port, running_server

FHIR = Path(__file__).resolve().parent / "fhir"
SERVICE = "/cds-services/spakg-axspa"
EHR = "https://ehr.example.org/fhir"          # its keys in a JWKS file
EHR_URL = "https://ehr-two.example.org"       # its keys at a JWKS URL (loopback)
EHR_DOWN = "https://ehr-down.example.org"     # its JWKS URL answers nothing


class Keys:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
    ec = ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)
    served = ECKey.generate_key("P-384", parameters={"kid": "url-1"}, private=True)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)  # same kid, another key


class JwksServer:
    """A loopback HTTP server answering GET /jwks.json with a JWK Set, counting its requests."""

    def __init__(self, key_set: dict) -> None:
        self.key_set, self.hits = key_set, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps(outer.key_set).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "ehr-jwks.json"
    path.write_text(json.dumps(KeySet([Keys.rsa, Keys.ec]).as_dict(private=False)))
    return path


@pytest.fixture(scope="module")
def jwks_url():
    server = JwksServer(KeySet([Keys.served]).as_dict(private=False))
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, jwks_file, jwks_url):
    log = tmp_path_factory.mktemp("trust") / "server.log"
    down = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    with running_server("--cds-trust", f"{EHR}={jwks_file}", "--cds-trust", f"{EHR_URL}={jwks_url.url}",
                        "--cds-trust", f"{EHR_DOWN}={down}", log=log) as base:
        yield base, log


def token(key, alg: str, aud: str, header: dict | None = None, **claims) -> str:
    """An EHR's authentication JWT for one call (header alg/typ/kid; claims iss, aud, exp, iat, jti)."""
    now = int(time.time())
    body = {"iss": EHR, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({"alg": alg, "typ": "JWT", "kid": key.kid, **(header or {})},
                      {k: v for k, v in body.items() if v is not None}, key, algorithms=[alg])


def hook_body() -> dict:
    return request_from_bundle(json.loads((FHIR / "negative-hla-b27-normal-bloods.json").read_text()))


def call(base: str, bearer: str | None, path: str = SERVICE, body: dict | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return httpx.post(base + path, json=body if body is not None else hook_body(), headers=headers, timeout=30)


def refused(r: httpx.Response, code: str) -> None:
    assert r.status_code == 401, r.text
    assert r.json() == {"error": {"code": code, "message": r.json()["error"]["message"]}}
    assert r.json()["error"]["message"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_an_rs384_token_from_a_trusted_ehr_gets_cards(server):
    base, _ = server
    r = call(base, token(Keys.rsa, "RS384", base + SERVICE))
    assert r.status_code == 200, r.text
    assert any(c["indicator"] == "warning" for c in r.json()["cards"])


def test_an_es384_token_from_a_trusted_ehr_gets_cards_and_aud_may_be_an_array(server):
    base, _ = server
    r = call(base, token(Keys.ec, "ES384", [base + SERVICE]))
    assert r.status_code == 200, r.text
    assert r.json()["cards"]


def test_a_call_without_a_token_is_refused(server):
    base, _ = server
    refused(call(base, None), "AUTHORIZATION_REQUIRED")
    r = httpx.post(base + SERVICE, json=hook_body(), headers={"authorization": "Basic dTpw"}, timeout=30)
    refused(r, "AUTHORIZATION_REQUIRED")


def test_an_expired_token_is_refused(server):
    base, _ = server
    now = int(time.time())
    refused(call(base, token(Keys.rsa, "RS384", base + SERVICE, iat=now - 900, exp=now - 600)), "TOKEN_EXPIRED")


def test_a_token_for_another_service_is_refused(server):
    base, _ = server
    refused(call(base, token(Keys.rsa, "RS384", "https://cds.other.example/cds-services/spakg-axspa")), "WRONG_AUDIENCE")
    refused(call(base, token(Keys.ec, "ES384", base + "/cds-services")), "WRONG_AUDIENCE")  # discovery's, not this


def test_a_replayed_token_is_refused(server):
    base, _ = server
    once = token(Keys.ec, "ES384", base + SERVICE)
    assert call(base, once).status_code == 200
    refused(call(base, once), "TOKEN_REPLAYED")


def test_a_token_from_an_unknown_issuer_is_refused(server):
    base, _ = server
    refused(call(base, token(Keys.rsa, "RS384", base + SERVICE, iss="https://evil.example")), "UNKNOWN_ISSUER")


def _unsigned(header: dict, claims: dict) -> str:
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{b64(header)}.{b64(claims)}."


def test_alg_none_is_refused(server):
    base, _ = server
    now = int(time.time())
    claims = {"iss": EHR, "aud": base + SERVICE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    refused(call(base, _unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims)), "ALG_NOT_ALLOWED")


def test_hmac_signed_with_the_public_key_is_refused(server):
    """The classic confusion: HS384 with the issuer's public key (its PEM) as the shared secret. joserfc will not make
    such a key, so the token is signed here with hmac, as an attacker would."""
    base, _ = server
    now = int(time.time())
    claims = {"iss": EHR, "aud": base + SERVICE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    unsigned = _unsigned({"alg": "HS384", "typ": "JWT", "kid": "rsa-1"}, claims)
    mac = hmac.new(Keys.rsa.as_pem(private=False), unsigned[:-1].encode(), hashlib.sha384).digest()
    refused(call(base, unsigned + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()), "ALG_NOT_ALLOWED")


def test_a_token_signed_by_another_key_under_a_trusted_kid_is_refused(server):
    base, _ = server
    refused(call(base, token(Keys.stranger, "RS384", base + SERVICE)), "BAD_SIGNATURE")


def test_a_key_id_not_in_the_issuers_key_set_is_refused(server):
    base, _ = server
    other = ECKey.generate_key("P-384", parameters={"kid": "ec-unknown"}, private=True)
    refused(call(base, token(other, "ES384", base + SERVICE)), "UNKNOWN_KEY")


def test_a_jku_off_the_issuers_allow_list_is_refused_and_never_fetched(server, jwks_url):
    base, _ = server
    hits = jwks_url.hits
    bad = token(Keys.ec, "ES384", base + SERVICE, header={"jku": jwks_url.url.replace("jwks", "elsewhere")})
    refused(call(base, bad), "JKU_NOT_ALLOWED")
    refused(call(base, token(Keys.ec, "ES384", base + SERVICE, header={"jku": jwks_url.url})), "JKU_NOT_ALLOWED")
    assert jwks_url.hits == hits  # the file issuer has no URLs: nothing fetched for it


def test_a_token_issued_in_the_future_is_refused(server):
    base, _ = server
    now = int(time.time())
    refused(call(base, token(Keys.rsa, "RS384", base + SERVICE, iat=now + 600, exp=now + 900)), "TOKEN_NOT_YET_VALID")


def test_a_token_living_longer_than_an_hour_is_refused(server):
    base, _ = server
    now = int(time.time())
    refused(call(base, token(Keys.rsa, "RS384", base + SERVICE, exp=now + 7200)), "TOKEN_LIFETIME_TOO_LONG")


def test_a_token_without_jti_is_refused(server):
    base, _ = server
    refused(call(base, token(Keys.rsa, "RS384", base + SERVICE, jti=None)), "CLAIM_MISSING")


def test_a_bearer_that_is_not_a_jwt_is_refused(server):
    base, _ = server
    refused(call(base, "not-a-jwt"), "TOKEN_MALFORMED")


def test_an_issuer_whose_key_set_cannot_be_fetched_is_refused(server):
    base, _ = server
    refused(call(base, token(Keys.ec, "ES384", base + SERVICE, iss=EHR_DOWN)), "JWKS_UNAVAILABLE")


def test_a_jwks_url_is_fetched_once_then_cached_and_jku_on_the_allow_list_is_used(server, jwks_url):
    base, _ = server
    for _ in range(3):
        assert call(base, token(Keys.served, "ES384", base + SERVICE, iss=EHR_URL)).status_code == 200
    assert call(base, token(Keys.served, "ES384", base + SERVICE, iss=EHR_URL,
                            header={"jku": jwks_url.url})).status_code == 200
    assert jwks_url.hits == 1


def test_a_rotated_key_in_the_jwks_file_is_used_without_a_restart(server, jwks_file):
    base, _ = server
    new = ECKey.generate_key("P-384", parameters={"kid": "ec-2"}, private=True)
    refused(call(base, token(new, "ES384", base + SERVICE)), "UNKNOWN_KEY")
    before = json.loads(jwks_file.read_text())
    try:
        jwks_file.write_text(json.dumps({"keys": [*before["keys"], new.as_dict(private=False)]}))
        assert call(base, token(new, "ES384", base + SERVICE)).status_code == 200
    finally:
        jwks_file.write_text(json.dumps(before))
    refused(call(base, token(new, "ES384", base + SERVICE)), "UNKNOWN_KEY")  # retired: refused again


def test_discovery_stays_open_and_feedback_needs_a_token(server):
    base, _ = server
    assert httpx.get(base + "/cds-services", timeout=10).status_code == 200
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:00:00Z"}
    refused(call(base, None, SERVICE + "/feedback", {"feedback": [item]}), "AUTHORIZATION_REQUIRED")
    r = call(base, token(Keys.rsa, "RS384", base + SERVICE + "/feedback"), SERVICE + "/feedback", {"feedback": [item]})
    assert r.status_code == 200 and r.json() == {"counted": 1}


def test_a_refusal_logs_the_issuer_and_the_code_never_the_token(server):
    base, log = server
    bad = token(Keys.rsa, "RS384", base + SERVICE, iss="https://forger.example/\nINFO: forged")
    refused(call(base, bad), "UNKNOWN_ISSUER")
    time.sleep(0.3)
    text = log.read_text()
    assert "CDS Hooks trusted-only (3 issuers; discovery open)" in text  # the startup line
    line = next(line for line in text.splitlines() if "UNKNOWN_ISSUER" in line and "forger" in line)
    assert "'https://forger.example/\\nINFO: forged'" in line  # quoted, its newline escaped: one line
    for t in (bad, bad.split(".")[1], bad.split(".")[2]):
        assert t not in text
    assert "\nINFO: forged" not in text
    assert httpx.get(base + "/healthz", timeout=10).json()["cdsHooks"]["callers"] == "trusted-only"


def test_trusted_discovery_and_a_public_base_url(tmp_path, jwks_file):
    public = "https://cds.example.org/spakg"
    with running_server("--cds-trust", f"{EHR}={jwks_file}", "--cds-trust-discovery", "--cds-base-url", public,
                        log=tmp_path / "server.log") as base:
        r = httpx.get(base + "/cds-services", timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "AUTHORIZATION_REQUIRED"
        ok = httpx.get(base + "/cds-services", headers={
            "authorization": f"Bearer {token(Keys.ec, 'ES384', public + '/cds-services')}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["services"][0]["id"] == "spakg-axspa"
        refused(call(base, token(Keys.ec, "ES384", base + SERVICE)), "WRONG_AUDIENCE")  # the loopback URL is not it
        assert call(base, token(Keys.ec, "ES384", public + SERVICE)).status_code == 200
    assert "CDS Hooks trusted-only (1 issuer; discovery too)" in (tmp_path / "server.log").read_text()


def test_a_trust_option_that_cannot_be_used_stops_the_start_with_a_message(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "not-jwks.json"
    bad.write_text('{"keys": "no"}')
    for arg, said in ((f"{EHR}={tmp_path / 'missing.json'}", "cannot be read"), (f"{EHR}={bad}", "not a JWK Set"),
                      ("no-equals-sign", "ISSUER=JWKS-FILE-or-URL")):
        run = subprocess.run([sys.executable, "-m", "spakg.cli", "serve", "--port", str(free_port()), "--cds-trust", arg],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and said in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_a_token_accepted_by_one_worker_process_is_refused_by_the_others(tmp_path, jwks_file):
    """With --workers 2 the kernel hands connections to either process: the jti cache is shared between them."""
    with running_server("--cds-trust", f"{EHR}={jwks_file}", "--workers", "2", log=tmp_path / "server.log") as base:
        once = token(Keys.ec, "ES384", base + SERVICE)
        codes = []
        for _ in range(8):  # a new connection each time, so both workers get some
            r = call(base, once)
            codes.append(r.status_code if r.status_code == 200 else r.json()["error"]["code"])
        assert codes == [200] + ["TOKEN_REPLAYED"] * 7, codes


def test_a_key_rotated_at_a_jwks_url_is_fetched_again_but_no_more_often_than_the_interval(monkeypatch):
    """In process (the interval is 30 s in service; here 1 s), against a loopback JWKS server: an unknown kid fetches
    the URL again once the interval has passed, and a burst of unknown kids does not make a burst of fetches."""
    import asyncio

    from spakg.api import cds_trust
    from spakg.api.cds_trust import CdsTrust, TrustError

    monkeypatch.setattr(cds_trust, "REFETCH_SECONDS", 1.0)
    old = ECKey.generate_key("P-384", parameters={"kid": "old"}, private=True)
    new = ECKey.generate_key("P-384", parameters={"kid": "new"}, private=True)
    jwks = JwksServer(KeySet([old]).as_dict(private=False))
    aud = "https://cds.example.org/cds-services/spakg-axspa"
    trust = CdsTrust({EHR_URL: [jwks.url]})

    async def code(key) -> str:
        try:
            await trust.check(f"Bearer {token(key, 'ES384', aud, iss=EHR_URL)}", [aud])
            return "OK"
        except TrustError as e:
            return e.code

    async def scenario() -> list[str]:
        seen = [await code(old)]
        jwks.key_set = KeySet([new]).as_dict(private=False)  # the EHR rotates
        seen += [await code(new) for _ in range(5)]  # within the interval: the cached set, no new fetch
        hits = jwks.hits
        await asyncio.sleep(1.1)
        seen += [await code(new), await code(old)]
        return [*seen, hits]

    try:
        got = asyncio.run(scenario())
    finally:
        jwks.httpd.shutdown()
    assert got == ["OK", *["UNKNOWN_KEY"] * 5, "OK", "UNKNOWN_KEY", 1], got
    assert jwks.hits == 2


def test_the_trust_benchmark_measures_open_and_trusted_calls_side_by_side(knowledge):
    from spakg.bench_fhir import bench_cds_trust

    figures = bench_cds_trust(knowledge, requests=5)
    assert set(figures) == {"open", "RS384", "ES384"}
    assert all(f["rps"] > 0 and f["p50_ms"] > 0 for f in figures.values())
    assert figures["RS384"]["check_p50_ms"] > 0 and figures["ES384"]["check_p50_ms"] > 0


@pytest.mark.parametrize(("header", "claims", "code"), [
    ({"alg": "ES384", "kid": "ec-1", "jku": ["http://127.0.0.1/jwks.json"]}, {}, "JKU_NOT_ALLOWED"),
    ({"alg": "ES384", "kid": 7}, {}, "TOKEN_MALFORMED"),
    ({"alg": ["ES384"], "kid": "ec-1"}, {}, "ALG_NOT_ALLOWED"),
    ({"alg": "ES384", "kid": "ec-1"}, ["not", "claims"], "TOKEN_MALFORMED"),
    ({"alg": "ES384", "kid": "ec-1"}, {"iss": ["https://ehr.example.org/fhir"]}, "CLAIM_MISSING"),
    ({"alg": "ES384", "kid": "ec-1", "typ": "at+jwt"}, {}, "TOKEN_MALFORMED"),
])
def test_a_token_of_the_wrong_shapes_is_refused_with_its_code_never_a_crash(server, header, claims, code):
    base, _ = server
    now = int(time.time())
    body = {"iss": EHR, "aud": base + SERVICE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims} \
        if isinstance(claims, dict) else claims
    refused(call(base, _unsigned(header, body) + "c2lnbmF0dXJl"), code)
