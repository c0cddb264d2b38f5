"""`spakg soak`: start a server, send it mixed and hostile traffic for a while, and check the README's promises about
it. Phases: eight hostile SPARQL queries; mixed traffic (good and bad assessments, searches, malformed bodies,
ordinary SPARQL) for ``--minutes``; 1,000 distinct GraphQL documents; requests with 16-64 MiB headers; the hostile
GraphQL and HTTP cases of the hardening issues; the hostile SPARQL again. A separate process samples /healthz every
50 ms throughout, so the client's own load does not colour the latencies.

The report gives requests tried, 5xx, uncoded errors, /healthz p99 and max (overall and by phase) and RSS before and
after (and around the distinct documents). Exit status 1 when any promise breaks, each broken one named:
0 × 5xx, 0 uncoded errors, /healthz p99 < 100 ms and max < 250 ms, RSS growth < 100 MB after 1,000 distinct
documents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
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
# the hardening issue's GraphQL cases: each must be a coded 4xx (or a coded 200 where the spec says so), never a 5xx
HOSTILE_GRAPHQL = [
    b'{"query": "{ ontology { classCount } }", "operationName": "\\ud800"}',
    b'{"query": "query A { ontology { classCount } } query B { rules { id } }"}',
    b'{"query": "{ assessFhir(bundle: \\"not json\\") { patientId } }"}',
    json.dumps({"query": "{ " + " ".join(f"a{i}: __schema {{ types {{ name fields {{ name }} }} }}"
                                         for i in range(50)) + " }"}).encode(),
]
HOSTILE_HTTP = [  # raw requests uvicorn reads itself
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]
PROMISES = {"p99_ms": 100.0, "max_ms": 250.0, "rss_growth_mib_per_1000_documents": 100.0}


@dataclass
class Tally:
    tried: int = 0
    server_errors: int = 0
    uncoded: int = 0
    dropped: int = 0  # connections closed without an answer
    codes: Counter = field(default_factory=Counter)

    def record(self, status: int, content: bytes, html: bool = False) -> None:
        self.tried += 1
        codes: list[str] = []
        if html:  # an explorer page says its code in the text: "[TOO_MANY_FIELDS] The form holds ..."
            found = re.search(rb"\[([A-Z_]{3,})\]", content) if status >= 400 else None
            if status >= 400 and found is None:
                self.uncoded += 1
            codes = [found.group(1).decode()] if found else []
        elif status >= 400 or b'"errors"' in content:
            try:
                codes = [e["extensions"]["code"] for e in json.loads(content)["errors"]]
            except (ValueError, KeyError, TypeError):
                self.uncoded += 1
        self.codes.update(codes)
        # a SPARQL query refused for its cost is a coded 503 by design; any other 5xx is a failure of the service
        if status >= 500 and not (status == 503 and set(codes) <= SPARQL_REFUSALS):
            self.server_errors += 1

    def response(self, r: httpx.Response) -> None:
        self.record(r.status_code, r.content, r.headers.get("content-type", "").startswith("text/html"))


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(port: int, workers: int = 1) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-m", "spakg.cli", "serve", "--port", str(port), "--log-level", "warning",
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


SAMPLER = """
import http.client, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
while True:
    started = time.time()
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
        print(started, -1.0, flush=True)
    else:
        print(started, time.time() - started, flush=True)
    time.sleep(0.05)
"""


async def mixed(client: httpx.AsyncClient, tally: Tally, patients: list[list[dict]], until: float, seed: int) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        try:
            await _one_mixed(client, tally, patients, rng)
        except httpx.TransportError:
            tally.tried += 1
            tally.dropped += 1


async def _one_mixed(client: httpx.AsyncClient, tally: Tally, patients: list[list[dict]], rng: random.Random) -> None:
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
    tally.response(r)


async def hostile_sparql(client: httpx.AsyncClient, tally: Tally) -> None:
    for r in await asyncio.gather(*(client.get("/sparql", params={"query": HOSTILE[i % len(HOSTILE)]})
                                    for i in range(8))):
        tally.response(r)


def distinct_document(n: int) -> str:
    """A ~4 KB document no other request sends (its own aliases and field order), quick to run: this phase is about
    what parsing, validating and caching many documents costs."""
    rng = random.Random(n)
    fields = ["id", "label", "shortLabel", "kind", "threshold", "thresholdBasis", "citations", "notes",
              "concludes { id label }", "dependsOn { id }"]
    parts = []
    for i in range(24):
        rng.shuffle(fields)
        parts.append(f"d{n}x{i}: rule(id: \"AsasIbpCriteria\") {{ {' '.join(fields)} }}")
    rng.shuffle(fields)
    parts.append(f"d{n}: rules {{ {' '.join(fields)} }}")
    return f"query Distinct{n} {{\n  " + "\n  ".join(parts) + "\n}"


async def distinct_documents(client: httpx.AsyncClient, tally: Tally, count: int, concurrency: int = 4) -> None:
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            try:
                tally.response(await client.post("/graphql", json={"query": distinct_document(n)}))
            except httpx.TransportError:
                tally.tried += 1
                tally.dropped += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def raw(port: int, request: bytes, tally: Tally) -> None:
    """Send bytes as they are and read the answer (the server may close before reading all of a huge request)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(request), 1 << 20):
                writer.write(request[start:start + (1 << 20)])
                await writer.drain()
        answer = b""
        with contextlib.suppress(ConnectionError):
            answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 599
    if not head:  # the connection was dropped without an answer
        tally.tried += 1
        tally.uncoded += 1
        return
    tally.record(status, body)


async def big_headers(port: int, tally: Tally) -> None:
    for mib in (16, 32, 64):
        await raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (mib << 20) + b"\r\n\r\n", tally)


async def hostile_graphql(client: httpx.AsyncClient, port: int, tally: Tally) -> None:
    for body in HOSTILE_GRAPHQL:
        tally.response(await client.post("/graphql", content=body, headers={"content-type": "application/json"}))
    tally.response(await client.post("/assess/fhir", content="&".join(f"f{i}=x" for i in range(20)),
                                     headers={"content-type": "application/x-www-form-urlencoded"}))
    tally.response(await client.post("/sparql", content=b"--x\r\nbroken",
                                     headers={"content-type": "multipart/form-data; boundary=x"}))
    for request in HOSTILE_HTTP:
        await raw(port, request, tally)


@dataclass
class Phases:
    marks: list[tuple[float, str]] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)

    def start(self, name: str) -> None:
        self.marks.append((time.time(), name))

    def of(self, when: float) -> str:
        name = self.marks[0][1]
        for started, phase in self.marks:
            if started <= when:
                name = phase
        return name


async def soak(port: int, seconds: float, patients: list[list[dict]], concurrency: int, documents: int,
               memory) -> tuple[Tally, Phases]:
    tally, phases = Tally(), Phases()
    # keep-alive connections expire in the client before uvicorn's 5 s: else a request may race the server's close
    limits = httpx.Limits(max_keepalive_connections=20, keepalive_expiry=4)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
        phases.start("hostile-sparql")
        await hostile_sparql(client, tally)
        phases.start("mixed")
        until = time.perf_counter() + seconds
        await asyncio.gather(*(mixed(client, tally, patients, until, n) for n in range(concurrency)))
        phases.rss["before_distinct_documents"] = memory()
        phases.start("distinct-documents")
        await distinct_documents(client, tally, documents)
        phases.rss["after_distinct_documents"] = memory()
        phases.start("big-headers")
        await big_headers(port, tally)
        phases.start("hostile-graphql-and-http")
        await hostile_graphql(client, port, tally)
        phases.start("hostile-sparql-again")
        await hostile_sparql(client, tally)
        phases.start("end")
    return tally, phases


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)] if ordered else float("nan")


def broken_promises(report: dict) -> list[str]:
    broken = []
    if report["5xx"]:
        broken.append(f"{report['5xx']} answers were 5xx (promised: none but SPARQL's coded 503 refusals)")
    if report["uncoded"]:
        broken.append(f"{report['uncoded']} errors had no extensions.code (promised: every error is coded)")
    if report["dropped"]:
        broken.append(f"{report['dropped']} requests had their connection closed without an answer")
    if report["healthz_failed"]:
        broken.append(f"/healthz failed {report['healthz_failed']} times")
    if not report["healthz_p99_ms"] < PROMISES["p99_ms"]:
        broken.append(f"/healthz p99 {report['healthz_p99_ms']} ms (promised < {PROMISES['p99_ms']:g} ms)")
    if not report["healthz_max_ms"] < PROMISES["max_ms"]:
        broken.append(f"/healthz max {report['healthz_max_ms']} ms (promised < {PROMISES['max_ms']:g} ms)")
    growth = report["rss_growth_mib_over_distinct_documents"]
    if not growth < PROMISES["rss_growth_mib_per_1000_documents"]:
        broken.append(f"RSS grew {growth} MiB over {report['distinct_documents']} distinct documents (promised < "
                      f"{PROMISES['rss_growth_mib_per_1000_documents']:g} MB after 1,000)")
    return broken


def run(args) -> int:
    k = Knowledge.load(args.ontology)
    rng = random.Random(3)
    patients = [random_patient(k, rng) for _ in range(500)]
    port, workers = args.port, getattr(args, "workers", 1)
    documents = getattr(args, "documents", 1000)
    with server(port, workers) as proc:
        def memory() -> float:
            """The serving processes' RSS: the server, or its uvicorn workers (SPARQL workers counted apart)."""
            return rss_mib(proc.pid) if workers <= 1 else sum(rss_mib(int(p)) for p in _children(proc.pid))

        before = memory()
        # the samples go to a file: a pipe read only at the end would fill and stop the sampler after ~1,800 lines
        with tempfile.TemporaryFile("w+", encoding="ascii") as out:
            sampler = subprocess.Popen([sys.executable, "-c", SAMPLER, str(port)], stdout=out, text=True)
            try:
                tally, phases = asyncio.run(soak(port, args.minutes * 60, patients, args.concurrency, documents,
                                                 memory))
            finally:
                sampler.terminate()
                sampler.wait(timeout=15)
            out.seek(0)
            samples = out.read()
        after = memory()
        sparql = [p for w in ([proc.pid] if workers <= 1 else map(int, _children(proc.pid))) for p in _descendants(w)]
        # a worker killed and not yet reaped has no RSS (nan): it holds no memory either
        sparql_rss = sum(r for r in (rss_mib(int(p)) for p in sparql if os.path.exists(f"/proc/{p}")) if r == r)
    by_phase: dict[str, list[float]] = {}
    failed = 0
    for line in samples.splitlines():
        with contextlib.suppress(ValueError):
            started, latency = map(float, line.split())
            if latency < 0:
                failed += 1
            else:
                by_phase.setdefault(phases.of(started), []).append(latency * 1000)
    everything = [v for values in by_phase.values() for v in values]
    report = {
        "workers": workers, "minutes_of_mixed_traffic": args.minutes, "requests": tally.tried, "5xx": tally.server_errors,
        "503_sparql_refusals": sum(tally.codes[c] for c in SPARQL_REFUSALS), "uncoded": tally.uncoded,
        "dropped": tally.dropped, "healthz_samples": len(everything), "healthz_failed": failed,
        "healthz_p99_ms": round(percentile(everything, 0.99), 1),
        "healthz_max_ms": round(max(everything, default=float("nan")), 1),
        "healthz_by_phase_ms": {name: {"n": len(v), "p99": round(percentile(v, 0.99), 1), "max": round(max(v), 1)}
                                for name, v in by_phase.items()},
        "rss_mib_before": round(before, 1), "rss_mib_after": round(after, 1),
        "distinct_documents": documents,
        "rss_mib_around_distinct_documents": [round(phases.rss["before_distinct_documents"], 1),
                                              round(phases.rss["after_distinct_documents"], 1)],
        "rss_growth_mib_over_distinct_documents": round(phases.rss["after_distinct_documents"]
                                                        - phases.rss["before_distinct_documents"], 1),
        "sparql_workers_rss_mib": round(sparql_rss, 1),
        "codes": dict(tally.codes.most_common()),
    }
    broken = broken_promises(report)
    report["broken_promises"] = broken
    print(json.dumps(report, indent=2))
    for promise in broken:
        print(f"spakg soak: broken promise: {promise}", file=sys.stderr)
    return 1 if broken else 0


def _descendants(pid: int) -> list[str]:
    """Every process below ``pid`` (a SPARQL worker may sit below the process that isolates it)."""
    found, todo = [], [str(pid)]
    while todo:
        for child in _children(int(todo.pop())):
            found.append(child)
            todo.append(child)
    return found


def _children(pid: int) -> list[str]:
    """Child processes of any of a process's threads (SPARQL workers are started from a worker thread)."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found += [c for c in f.read().split() if os.path.exists(f"/proc/{c}")]
    return found
