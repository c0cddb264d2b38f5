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


def long_record(k: Knowledge, n: int) -> dict:
    """A Bundle of exactly ``n`` entries for one patient (synthetic; never a real patient)."""
    story = next(v for v in load_vignettes(vignettes_dir()) if v.id == "negative-hla-b27-normal-bloods")
    bundle = bundle_from_record(k, story.patient, AS_OF)
    entries = bundle["entry"][:n]
    subject = {"reference": f"Patient/{story.patient['id']}"}
    i = 0
    while len(entries) < n:
        kind = i % 3
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


def bench_bundles(k: Knowledge, sizes=SIZES, repeat: int = 5) -> dict[int, dict[str, float]]:
    """Per size: ms to parse the JSON, to read it (validate every resource with fhirclient, map codes), to assess
    (facts + every rule), and for the full proof JSON; best of ``repeat``."""
    out = {}
    for n in sizes:
        raw = orjson.dumps(long_record(k, n))

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


def cds_request(k: Knowledge) -> dict:
    """A patient-view call with the long record of 100 entries as its prefetch."""
    from .api.cdshooks import request_from_bundle

    return request_from_bundle(long_record(k, 100), user="Practitioner/bench")


def bench_cds(base: str, k: Knowledge, wrk: str | None, concurrency: int, seconds: int = 8) -> dict[str, float]:
    """Requests/s and latency of POST /cds-services/spakg-axspa (wrk when installed, else httpx)."""
    body = json.dumps(cds_request(k))
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
    for n, f in bench_bundles(k, sizes).items():
        print(f"  {n:>5,} entries ({f['kib']:6.0f} KiB): JSON {f['parse_ms']:7.2f} ms, read (fhirclient validation + "
              f"codes) {f['read_ms']:7.2f} ms, + assess {f['assess_ms']:7.2f} ms, + full proof JSON {f['proof_ms']:7.2f} ms")

