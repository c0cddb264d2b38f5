"""FHIR figures for ``spakg bench``: Bundle parse + assess time by Bundle size, and the CDS Hooks service's rate.

A Bundle of N entries is one synthetic patient's long record: a vignette's resources, then repeated CRP results (all
but the latest superseded), repeated problem-list entries and codes spakg does not know, up to N — the shape a
record takes after years of visits. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import date, timedelta

import orjson

from .fhir.assess import assess_bundle
from .fhir.writer import bundle_from_record
from .knowledge import Knowledge
from .proof import assessment_json
from .resources import vignettes_dir
from .vignettes import load_vignettes

AS_OF = date(2026, 11, 29)
SIZES = (10, 100, 2_000)


def long_record(k: Knowledge, n: int, every_read: int = 1) -> dict:
    """A Bundle of exactly ``n`` entries for one patient (synthetic; never a real patient). ``every_read``: 1 gives
    the worst case (two in three resources are CRP results and problem-list entries spakg reads); 20, an
    inpatient's shape (one resource in 20 is read, the rest are vital signs and other tests spakg does not read)."""
    story = next(v for v in load_vignettes(vignettes_dir()) if v.id == "negative-hla-b27-normal-bloods")
    bundle = bundle_from_record(k, story.patient, AS_OF)
    entries = bundle["entry"][:n]
    subject = {"reference": f"Patient/{story.patient['id']}"}
    i = 0
    while len(entries) < n:
        kind = i % 3 if i % every_read == 0 else 2
        when = (AS_OF - timedelta(days=30 * (i + 1))).isoformat()
        if kind == 0:
            r = {"resourceType": "Observation", "id": f"crp{i}", "status": "final", "subject": subject,
                 "effectiveDateTime": when, "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
                 "valueQuantity": {"value": 0.2 + (i % 7) / 10, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                                   "code": "mg/dL"},
                 "interpretation": [{"coding": [{"code": "N"}]}]}
        elif kind == 1:
            r = {"resourceType": "Condition", "id": f"c{i}", "subject": subject, "recordedDate": when,
                 "verificationStatus": {"coding": [{"code": "confirmed"}]},
                 "code": {"coding": [{"system": "https://w3id.org/spakg", "code": "BackPain"}]}}
        else:
            r = {"resourceType": "Observation", "id": f"bp{i}", "status": "final", "subject": subject,
                 "effectiveDateTime": when, "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                 "valueString": "blood pressure panel (not read by spakg)"}
        entries.append({"fullUrl": f"urn:spakg:{r['resourceType']}/{r['id']}", "resource": r})
        i += 1
    return {**bundle, "entry": entries}


def bench_bundles(k: Knowledge, sizes=SIZES, repeat: int = 5, every_read: int = 1) -> dict[int, dict[str, float]]:
    """Per size: ms to parse the JSON, to read it (validate each resource read with fhirclient, map codes), to assess
    (facts + every rule), and for the full proof JSON; best of ``repeat``."""
    out = {}
    for n in sizes:
        raw = orjson.dumps(long_record(k, n, every_read))

        def best(fn, raw=raw) -> float:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                fn(raw)
                times.append(time.perf_counter() - started)
            return min(times) * 1e3

        out[n] = {"kib": len(raw) / 1024,
                  "parse_ms": best(orjson.loads),
                  "read_ms": best(lambda r: k.fhir.read(orjson.loads(r))),
                  "assess_ms": best(lambda r: assess_bundle(k, orjson.loads(r)).statuses),
                  "proof_ms": best(lambda r: assessment_json(assess_bundle(k, orjson.loads(r))))}
    return out


def cds_request(k: Knowledge, n: int = 500, filtered: bool = True) -> dict:
    """A patient-view call for an inpatient's record of ``n`` resources (one in 20 read by spakg): its prefetch as
    the discovery's templates ask for it (``filtered``: only the observations with a code spakg reads) or as a client
    sends it that ignores the filter (every observation)."""
    from .api.cdshooks import request_from_bundle

    return request_from_bundle(long_record(k, n, every_read=20), user="Practitioner/bench",
                               knowledge=k if filtered else None)


def bench_cds(base: str, k: Knowledge, wrk: str | None, concurrency: int, seconds: int = 8,
              filtered: bool = True) -> dict[str, float]:
    """Requests/s and latency of POST /cds-services/spakg-axspa (wrk when installed, else httpx)."""
    body = json.dumps(cds_request(k, filtered=filtered))
    url = base.rstrip("/") + "/cds-services/spakg-axspa"
    if wrk:
        from .bench_wrk import wrk_post

        return {**wrk_post(wrk, url, body, concurrency, seconds), "kib": len(body) / 1024}
    import httpx

    latencies = []
    with httpx.Client(timeout=30) as client:
        for _ in range(20):
            client.post(url, content=body, headers={"content-type": "application/json"}).raise_for_status()
        started = time.perf_counter()
        for _ in range(300):
            t = time.perf_counter()
            client.post(url, content=body, headers={"content-type": "application/json"})
            latencies.append((time.perf_counter() - t) * 1e3)
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": 300 / elapsed, "p50_ms": statistics.median(latencies), "p99_ms": latencies[int(len(latencies) * .99) - 1],
            "kib": len(body) / 1024}


def print_bundles(k: Knowledge, sizes=SIZES) -> None:
    print("FHIR Bundles (one patient's record; best of 5, one core):")
    for every, shape in ((20, "an inpatient's record: 1 resource in 20 read"),
                         (1, "worst case: 2 in 3 resources read")):
        print(f"  {shape}")
        for n, f in bench_bundles(k, sizes, every_read=every).items():
            print(f"  {n:>7,} entries ({f['kib']:6.0f} KiB): JSON {f['parse_ms']:7.2f} ms, read (validation + codes) "
                  f"{f['read_ms']:7.2f} ms, + assess {f['assess_ms']:7.2f} ms, + full proof JSON {f['proof_ms']:7.2f} ms")



def bench_cards(k: Knowledge, n: int = 1000) -> dict[str, tuple[int, int]]:
    """Cards per ``n`` patients, in process: charts unrelated to back pain (carebundle's US Core records, when it is
    installed) and referable patients (synthetic clinic patients whom a referral rule refers on their own facts,
    written as FHIR Bundles with real codes). Per kind: (patients with a card, cards)."""
    import random

    from .fhir.assess import assess_bundle
    from .fhir.cards import cards_for
    from .rules import MET
    from .synth import clinic_patient

    out: dict[str, tuple[int, int]] = {}
    try:
        import carebundle
    except ImportError:
        carebundle = None
    if carebundle is not None:
        charts = [json.loads(carebundle.to_json(b)) for b in carebundle.generate_cohort(count=n, seed=20, reference_date=AS_OF)]
        counts = [len(cards_for(assess_bundle(k, b, AS_OF), "http://bench")) for b in charts]
        out["unrelated"] = (sum(c > 0 for c in counts), sum(counts))
    referral = [i for i, r in enumerate(k.rules.order) if r.rule_type == "ReferralAdvice"]
    rng, records = random.Random(21), []
    while len(records) < n:
        record = clinic_patient(k, rng, len(records))
        if any(k.rules.decide(k.facts.read(record))[i] == MET for i in referral):
            records.append(record)
    counts = [len(cards_for(assess_bundle(k, bundle_from_record(k, r, AS_OF), AS_OF), "http://bench")) for r in records]
    out["referable"] = (sum(c > 0 for c in counts), sum(counts))
    return out


def print_cards(k: Knowledge, n: int = 1000) -> None:
    figures = bench_cards(k, n)
    print(f"CDS Hooks cards per {n:,} patients (in process):")
    if "unrelated" not in figures:
        print("  charts unrelated to back pain: skipped (carebundle is not installed: pip install 'spakg[bench]')")
    for kind, what in (("unrelated", "charts unrelated to back pain (carebundle's US Core records)"),
                       ("referable", "patients a referral rule refers (synthetic, FHIR with real codes)")):
        if kind in figures:
            with_card, cards = figures[kind]
            print(f"  {what}: {with_card:,} with a card ({cards:,} cards)")


def bench_cds_trust(k: Knowledge, requests: int = 300) -> dict[str, dict[str, float]]:
    """CDS Hooks patient-view requests/s (one client, one call at a time) on a server without --cds-trust and on one
    with it, each trusted call with a fresh RS384 or ES384 token (minted before timing). The three kinds of call take
    turns, one call each, so a loaded machine slows them alike. Two servers are started here on loopback ports, with
    keys made here."""
    import contextlib
    import socket
    import subprocess
    import sys
    import tempfile
    import uuid
    from pathlib import Path

    import httpx
    from joserfc import jwt
    from joserfc.jwk import ECKey, KeySet, RSAKey

    keys = {"RS384": RSAKey.generate_key(2048, parameters={"kid": "bench-rsa"}, private=True),
            "ES384": ECKey.generate_key("P-384", parameters={"kid": "bench-ec"}, private=True)}
    issuer = "https://ehr.bench.invalid"
    body = orjson.dumps(cds_request(k))

    def port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @contextlib.contextmanager
    def serving(*args: str):
        p = port()
        proc = subprocess.Popen([sys.executable, "-m", "spakg.cli", "serve", "--port", str(p), "--log-level",
                                 "error", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{p}"
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    def tokens(alg: str, aud: str, n: int) -> list[str]:
        now = int(time.time())
        return [jwt.encode({"alg": alg, "typ": "JWT", "kid": keys[alg].kid},
                           {"iss": issuer, "aud": aud, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())},
                           keys[alg], algorithms=[alg]) for _ in range(n)]

    def post(client: httpx.Client, url: str, token: str | None) -> float:
        headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
        t = time.perf_counter()
        client.post(url, content=body, headers=headers).raise_for_status()
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        jwks = Path(tmp) / "jwks.json"
        jwks.write_text(json.dumps(KeySet(list(keys.values())).as_dict(private=False)))
        with serving() as open_base, serving("--cds-trust", f"{issuer}={jwks}") as trusted_base, \
                httpx.Client(timeout=30) as client:
            service = "/cds-services/spakg-axspa"
            minted = {alg: tokens(alg, trusted_base + service, requests + 10) for alg in keys}
            for i in range(10):  # warm both
                post(client, open_base + service, None)
                for alg in keys:
                    post(client, trusted_base + service, minted[alg][requests + i])
            times: dict[str, list[float]] = {"open": [], "RS384": [], "ES384": []}
            for i in range(requests):
                times["open"].append(post(client, open_base + service, None))
                for alg in keys:
                    times[alg].append(post(client, trusted_base + service, minted[alg][i]))
            checked = _check_times(jwks, issuer, {alg: tokens(alg, "https://cds.bench.invalid" + service, requests)
                                                  for alg in keys}, "https://cds.bench.invalid" + service)
    out = {name: {"rps": len(t) / sum(t), "p50_ms": statistics.median(t) * 1e3} for name, t in times.items()}
    for alg, t in checked.items():
        out[alg]["check_p50_ms"] = statistics.median(t) * 1e3
    return out


def _check_times(jwks, issuer: str, minted: dict[str, list[str]], aud: str) -> dict[str, list[float]]:
    """Seconds per token of CdsTrust.check in this process (the trust check alone, without HTTP)."""
    import asyncio

    from .api.cds_trust import CdsTrust

    trust = CdsTrust({issuer: [str(jwks)]})

    async def run() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for alg, tokens in minted.items():
            out[alg] = []
            for token in tokens:
                t = time.perf_counter()
                await trust.check(f"Bearer {token}", [aud])
                out[alg].append(time.perf_counter() - t)
        return out

    return asyncio.run(run())


def print_cds_trust(k: Knowledge) -> None:
    f = bench_cds_trust(k)
    print("CDS Hooks patient-view, one client, without and with --cds-trust (calls taking turns, a fresh token each):")
    print(f"  open {f['open']['rps']:,.0f} req/s (p50 {f['open']['p50_ms']:.2f} ms); trusted-only, RS384 "
          f"{f['RS384']['rps']:,.0f} req/s (p50 {f['RS384']['p50_ms']:.2f} ms), ES384 {f['ES384']['rps']:,.0f} req/s "
          f"(p50 {f['ES384']['p50_ms']:.2f} ms)")
    print(f"  the trust check alone, in process: RS384 {f['RS384']['check_p50_ms']:.2f} ms, ES384 "
          f"{f['ES384']['check_p50_ms']:.2f} ms per call (median)")
