"""`spakg soak`: start a server, send it mixed traffic — good and bad assessments, searches, malformed bodies,
ordinary and hostile SPARQL — for a while, and print what an operator needs to trust it: requests tried, 5xx (must
be 0), uncoded errors (must be 0), /healthz latency while eight hostile SPARQL queries run, and memory before and
after. Exit status 1 if a 5xx or an uncoded error was seen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from .knowledge import Knowledge
from .synth import random_patient

HOSTILE = ["SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
           "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }",
           'SELECT * WHERE { FILTER regex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "(a+)+$") }',
           "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"]
ORDINARY_SPARQL = "SELECT ?c WHERE { ?c a <http://www.w3.org/2002/07/owl#Class> } LIMIT 10"
SPARQL_REFUSALS = {"QUERY_TIMEOUT", "QUERY_TOO_LARGE", "SPARQL_BUSY"}
ASSESS = "query($p: PatientInput!) { assess(patient: $p) { inferences { rule { id } status explanation { summary } } } }"
MALFORMED = [b"[]", b"null", b'{"query": "{ ontology {\n classCount } }"}', b"[" * 900 + b"]" * 900, b"\xff",
             b'{"query": "{ concept(id: \\"Uveitiss\\") { id } }"}']


@dataclass
class Tally:
    tried: int = 0
    server_errors: int = 0
    uncoded: int = 0
    codes: Counter = field(default_factory=Counter)

    def record(self, r: httpx.Response) -> None:
        self.tried += 1
        codes: list[str] = []
        if r.status_code >= 400 or b'"errors"' in r.content:
            try:
                codes = [e["extensions"]["code"] for e in r.json()["errors"]]
            except (ValueError, KeyError, TypeError):
                self.uncoded += 1
        self.codes.update(codes)
        # a SPARQL query refused for its cost is a coded 503 by design; any other 5xx is a failure of the service
        if r.status_code >= 500 and not (r.status_code == 503 and set(codes) <= SPARQL_REFUSALS):
            self.server_errors += 1


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(port: int) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-m", "spakg.cli", "serve", "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def mixed(client: httpx.AsyncClient, tally: Tally, patients: list[list[dict]], until: float, seed: int) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        kind = rng.random()
        if kind < 0.6:
            findings = rng.choice(patients)
            if rng.random() < 0.2:  # a bad value or an unknown concept now and then
                findings = [*findings, rng.choice([{"concept": "BackPain", "ageAtOnset": 300}, {"concept": "Nope"}])]
            r = await client.post("/graphql", json={"query": ASSESS, "variables": {"p": {"id": "soak", "findings": findings}}})
        elif kind < 0.8:
            r = await client.post("/graphql", json={"query": '{ concepts(search: "pain", first: 5) { edges { node { id } } } }'})
        elif kind < 0.95:
            r = await client.post("/graphql", content=rng.choice(MALFORMED), headers={"content-type": "application/json"})
        else:
            r = await client.get("/sparql", params={"query": ORDINARY_SPARQL})
        tally.record(r)


async def healthz_under_hostile_sparql(client: httpx.AsyncClient, tally: Tally) -> list[float]:
    hostile = [asyncio.create_task(client.get("/sparql", params={"query": HOSTILE[i % len(HOSTILE)]})) for i in range(8)]
    await asyncio.sleep(0.3)
    latencies = []
    while not all(t.done() for t in hostile):
        started = time.perf_counter()
        tally.record(await client.get("/healthz"))
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    for t in hostile:
        tally.record(await t)
    return latencies


async def soak(base: str, seconds: float, patients: list[list[dict]], concurrency: int) -> tuple[Tally, list[float]]:
    tally = Tally()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        latencies = await healthz_under_hostile_sparql(client, tally)
        until = time.perf_counter() + seconds
        await asyncio.gather(*(mixed(client, tally, patients, until, n) for n in range(concurrency)))
        latencies += await healthz_under_hostile_sparql(client, tally)
    return tally, latencies


def run(args) -> int:
    k = Knowledge.load(args.ontology)
    rng = random.Random(3)
    patients = [random_patient(k, rng) for _ in range(500)]
    port = args.port
    with server(port) as proc:
        base = f"http://127.0.0.1:{port}"
        before = rss_mib(proc.pid)
        tally, latencies = asyncio.run(soak(base, args.minutes * 60, patients, args.concurrency))
        after = rss_mib(proc.pid)
        children = sum(rss_mib(int(p)) for p in _children(proc.pid))
    latencies.sort()
    report = {"requests": tally.tried, "5xx": tally.server_errors,
              "503_sparql_refusals": sum(tally.codes[c] for c in SPARQL_REFUSALS), "uncoded": tally.uncoded,
              "healthz_p99_ms_under_8_hostile_sparql": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1e3, 1),
              "healthz_max_ms": round(latencies[-1] * 1e3, 1), "rss_mib_before": round(before, 1),
              "rss_mib_after": round(after, 1), "sparql_workers_rss_mib": round(children, 1),
              "minutes": args.minutes, "codes": dict(tally.codes.most_common())}
    print(json.dumps(report, indent=2))
    return 1 if tally.server_errors or tally.uncoded else 0


def _children(pid: int) -> list[str]:
    """Child processes of any of the server's threads (SPARQL workers are started from a worker thread)."""
    found: list[str] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
            found += [c for c in f.read().split() if os.path.exists(f"/proc/{c}")]
    return found
