"""``spakg bench``: every speed figure in one command.

* the reasoner, one core: facts + outcomes, + the proof vector, full proof JSON, next questions;
* baselines on the part of the work they can express (closing the facts under the hierarchy and disjointness; none
  of them decides k-of-n rules, numbers or three values), per patient and batched: owlrl (OWL 2 RL over rdflib),
  HermiT (through owlready2), and reasonable (an OWL 2 RL reasoner in Rust): the ``bench`` extra, ``pip install
  "spakg[bench]"``; ``--quick`` leaves them out (and uses small sizes throughout);
* FHIR Bundles of 10, 100 and 2,000 entries: JSON, reading (validation, codes), assessing, proof JSON;
* with ``--server``: a running server's assess and concept latency at concurrency 1 and 8, and its CDS Hooks
  service's.

Figures are printed, never asserted: timed tests would fail on a busy machine.
"""

from __future__ import annotations

import gc
import json
import random
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rdflib import BNode, Graph, URIRef

from .assessment import Assessment
from .bench_wrk import drive, wrk_post
from .hermit import load_in_owlready2
from .knowledge import Knowledge
from .namespaces import OWL, RDF
from .proof import assessment_json
from .synth import random_patient

BENCH_NS = "https://w3id.org/spakg/bench/patient/"


def cohort(k: Knowledge, n: int, seed: int = 7) -> list[list[dict]]:
    rng = random.Random(seed)
    return [random_patient(k, rng) for _ in range(n)]


def _rate(fn: Callable[[], object], n: int, repeat: int = 3) -> float:
    """Patients per second, best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def bench_reasoner(k: Knowledge, patients: list[list[dict]]) -> dict[str, float]:
    """Patients per second for each stage (best of three), with the proof size."""
    facts, decide, prove = k.facts.patient, k.rules.decide, k.rules.prove
    some = patients[: max(1, len(patients) // 10)]
    out = {
        "outcomes": _rate(lambda: [decide(facts(p)) for p in patients], len(patients)),
        "vector": _rate(lambda: [prove(facts(p)) for p in patients], len(patients)),
        "proof_json": _rate(lambda: [assessment_json(Assessment(k, facts(p)), questions=False) for p in some], len(some)),
        "next_questions": _rate(lambda: [Assessment(k, facts(p)).next_questions for p in some], len(some)),
    }
    out["json_bytes"] = statistics.mean(len(assessment_json(Assessment(k, facts(p)), questions=False)) for p in some[:50])
    return out


# ---------------------------------------------------------------------- baselines
def _patients_graph(k: Knowledge, patients: list[list[dict]]) -> Graph:
    """The ontology plus each patient as an individual: of each present class, of the complement of each absent one."""
    g = Graph()
    g += (t for t in k.graph if t[1] != OWL.imports)
    for n, findings in enumerate(patients):
        node = URIRef(f"{BENCH_NS}{n}")
        for f in findings:
            cls = URIRef(k.concepts.get(f["concept"]).iri)
            if f.get("present", True):
                g.add((node, RDF.type, cls))
            else:
                comp = BNode()
                g.add((comp, RDF.type, OWL.Class))
                g.add((comp, OWL.complementOf, cls))
                g.add((node, RDF.type, comp))
    return g


def bench_owlrl(k: Knowledge, patients: list[list[dict]], batch: int) -> float:
    """Seconds per patient for owlrl's OWL 2 RL closure, ``batch`` patients per graph."""
    from owlrl import DeductiveClosure, OWLRL_Semantics

    spent = 0.0
    for start in range(0, len(patients), batch):
        g = _patients_graph(k, patients[start:start + batch])
        t = time.perf_counter()
        DeductiveClosure(OWLRL_Semantics).expand(g)
        spent += time.perf_counter() - t
    return spent / len(patients)


def bench_reasonable(k: Knowledge, patients: list[list[dict]], batch: int) -> float | None:
    try:
        import reasonable
    except ImportError:
        return None
    spent = 0.0
    for start in range(0, len(patients), batch):
        g = _patients_graph(k, patients[start:start + batch])
        r = reasonable.PyReasoner()
        t = time.perf_counter()
        r.from_graph(g)
        r.reason()
        spent += time.perf_counter() - t
    return spent / len(patients)


def bench_hermit(k: Knowledge, patients: list[list[dict]], batch: int) -> float | None:
    """Seconds per patient for HermiT realising the patients (JVM start included), ``batch`` per run."""
    from .java import JavaMissing, configure_owlready2

    try:
        configure_owlready2()
    except JavaMissing:
        return None
    import owlready2

    spent = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for start in range(0, len(patients), batch):
            world, onto = load_in_owlready2(_patients_graph(k, patients[start:start + batch]), Path(tmp) / "p.owl")
            t = time.perf_counter()
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
            spent += time.perf_counter() - t
    return spent / len(patients)


# ---------------------------------------------------------------------- the server
ASSESS = ("query($p: PatientInput!) { assess(patient: $p) { disclaimer inferences { rule { id } status explanation { "
          "summary items { item { id label } status finding { state } items { item { id } status } } "
          "sources { quote start end } } } } }")
CONCEPT = '{ concept(id: "MorningStiffness") { id label definition parents { id } related { label target { id } } } }'


def bench_server(base: str, n: int, patients: list[list[dict]], concurrency: int) -> dict[str, dict[str, float]]:
    """Requests per second and latency percentiles for assess (full explanations) and concept."""
    import asyncio

    import httpx

    requests = {"assess": lambda i: {"query": ASSESS, "variables": {"p": {"findings": patients[i % len(patients)]}}},
                "concept": lambda i: {"query": CONCEPT}}

    async def run(make) -> dict[str, float]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            for i in range(50):  # warm up (and fill the parse cache)
                (await client.post("/graphql", json=make(i))).raise_for_status()

            async def send(i: int) -> bool:
                r = await client.post("/graphql", json=make(i))
                return r.status_code == 200 and b'"errors"' not in r.content

            return await drive(send, n, concurrency)

    return {name: asyncio.run(run(make)) for name, make in requests.items()}


def bench_server_wrk(wrk: str, base: str, patients: list[list[dict]], concurrency: int,
                     seconds: int = 8) -> dict[str, dict[str, float]]:
    """The same two requests as ``bench_server``, driven by wrk (a C load generator: the client costs little of the
    two cores). assess sends one patient of the cohort, the same each time (its parse cache is then warm, as for
    an app sending one query text with varying variables)."""
    bodies = {"assess": {"query": ASSESS, "variables": {"p": {"findings": patients[0]}}}, "concept": {"query": CONCEPT}}
    return {name: wrk_post(wrk, base.rstrip("/") + "/graphql", json.dumps(body), concurrency, seconds)
            for name, body in bodies.items()}


EXPLORER_PAGES = ["/", "/concepts/Uveitis", "/article?quote=q-back-pain-common", "/path?from=Uveitis&to=AxialSpondyloarthritis",
                  "/rules/AsasAxialSpaCriteria", "/assess", "/assess?f.BackPain=yes&q.BackPain.ageAtOnset=25&"
                  "q.BackPain.durationMonths=24&f.InsidiousOnset=yes&f.HLAB27Positive=yes&f.SacroiliitisOnMRI=yes&age=27",
                  "/?q=uveitiss", "/compare?rules=AsasIbpCriteria,BerlinIbpCriteria,CalinIbpCriteria",
                  "/cases/classic-ibp-non-radiographic?reveal=1", "/graphql"]


def bench_pages(base: str, repeat: int = 30) -> dict[str, tuple[float, int]]:
    """Per explorer page: the median server render time (its Server-Timing header, or the round trip), and the
    bytes a browser downloads for it gzipped, its scripts and styles included."""
    import httpx

    out = {}
    with httpx.Client(base_url=base, timeout=30, headers={"accept": "text/html", "accept-encoding": "gzip"}) as client:
        for path in EXPLORER_PAGES:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                r = client.get(path)
                timing = re.search(r"dur=([\d.]+)", r.headers.get("server-timing", ""))
                times.append(float(timing.group(1)) if timing else (time.perf_counter() - started) * 1e3)
            weight = r.num_bytes_downloaded
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
                weight += client.get(asset).num_bytes_downloaded
            out[path] = (statistics.median(times), weight)
    return out


QUICK_PATIENTS = 1_000  # --quick: a first look in well under a minute


def run(args) -> None:
    quick = getattr(args, "quick", False)
    if getattr(args, "cohort", False):
        bench_screen(Knowledge.load(args.ontology), **({"sizes": (1_000, 10_000), "sweep": 2_000} if quick else {}))
    t = time.perf_counter()
    k = Knowledge.load(args.ontology)
    load = time.perf_counter() - t
    patients = cohort(k, min(args.patients, QUICK_PATIENTS) if quick else args.patients)
    gc.collect()
    gc.freeze()  # as the server does after loading: the ontology is never collected
    print(f"ontology load + compile: {load * 1e3:.0f} ms ({len(k.graph)} triples, {len(k.concepts)} classes, "
          f"{len(k.rules.rules)} rules)")
    mean_findings = statistics.mean(len(p) for p in patients)
    print(f"cohort: {len(patients):,} random consistent patients over all {len(k.facts.observable)} observable "
          f"classes, {mean_findings:.1f} findings each (synthetic)")
    r = bench_reasoner(k, patients)
    print(f"spakg, one core: {r['outcomes']:,.0f} patients/s facts + every rule's outcome")
    print(f"                 {r['vector']:,.0f} patients/s facts + the proof vector (every item's status and counts)")
    print(f"                 {r['proof_json']:,.0f} patients/s full proof JSON ({r['json_bytes'] / 1024:.0f} KiB each)")
    print(f"                 {1e3 / r['next_questions']:.2f} ms per patient for the next questions")
    if quick:
        print("baselines: left out (--quick); spakg bench without --quick times owlrl, reasonable and HermiT")
    else:
        bench_baselines(k, patients, r, args.baseline_patients, args.hermit_patients)
    from .bench_fhir import SIZES, print_bundles, print_cards

    print_bundles(k, SIZES[:2] if quick else SIZES)
    print_cards(k, 100 if quick else 1000)
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.server:
        bench_running_server(args.server, k, patients, 300 if quick else args.requests, 2 if quick else 8)


def bench_baselines(k: Knowledge, patients: list[list[dict]], r: dict[str, float], baseline_patients: int,
                    hermit_patients: int) -> None:
    base = patients[:baseline_patients]
    print(f"baselines, closing {len(base)} patients under the hierarchy and disjointness only (no rules):")
    rows = [("owlrl", bench_owlrl, 1, 100), ("reasonable", bench_reasonable, 1, 1000),
            ("HermiT", bench_hermit, 1, 1000)]
    for name, fn, single, most in rows:
        sample = base[:hermit_patients] if name == "HermiT" else base
        batch = min(most, len(sample))
        one = fn(k, sample[: min(len(sample), 10)], single)
        many = fn(k, sample, batch)
        if one is None or many is None:
            why = "pip install 'spakg[bench]'" if name == "reasonable" else "no Java runtime"
            print(f"  {name:10s} skipped ({why})")
            continue
        print(f"  {name:10s} per patient {one * 1e3:9.2f} ms ({one * r['vector']:>9,.0f}x spakg with the proof vector); "
              f"batched ({batch}/run) {many * 1e3:8.3f} ms ({many * r['vector']:,.1f}x; "
              f"{many * r['outcomes']:,.1f}x on outcomes)")


RUNAWAY_SPARQL = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
                  'SELECT * WHERE { FILTER regex("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "(a+)+$") }',
                  "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }")


def bench_healthz_under_sparql(base: str, probes: int = 20) -> dict[str, float]:
    """/healthz latency (ms) while eight runaway SPARQL queries run or queue (the README's promise: under 100 ms;
    tests/test_hostile.py checks that it answers meanwhile, this measures how fast)."""
    import asyncio

    import httpx

    async def run() -> list[float]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            hostile = [asyncio.create_task(client.get("/sparql", params={"query": q}))
                       for q in [*RUNAWAY_SPARQL, RUNAWAY_SPARQL[0]] * 2]
            await asyncio.sleep(0.5)
            latencies = []
            for _ in range(probes):
                started = time.perf_counter()
                (await client.get("/healthz")).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1e3)
                await asyncio.sleep(0.05)
            await asyncio.gather(*hostile)
            return sorted(latencies)

    latencies = asyncio.run(run())
    return {"p50_ms": statistics.median(latencies), "max_ms": latencies[-1]}


def bench_running_server(server: str, k: Knowledge, patients: list[list[dict]], requests: int, seconds: int) -> None:
    from .bench_fhir import bench_cds

    wrk = shutil.which("wrk")
    client = f"wrk, {seconds} s each" if wrk else "httpx in this process (install wrk for figures the client does not cap)"
    print(f"server {server} ({client}); assess = full explanations of every rule:")
    for concurrency in (1, 8):
        figures = bench_server_wrk(wrk, server, patients, concurrency, seconds) if wrk else \
            bench_server(server, requests, patients, concurrency)
        for name, s in figures.items():
            print(f"  {name}, concurrency {concurrency}: {s['rps']:,.0f} req/s, p50 {s['p50_ms']:.2f} ms, "
                  f"p99 {s['p99_ms']:.2f} ms")
        for filtered, how in ((True, "as the templates ask"), (False, "every observation sent")):
            cds = bench_cds(server, k, wrk, concurrency, seconds, filtered=filtered)
            print(f"  CDS Hooks patient-view, a 500-resource record, {how} ({cds['kib']:.0f} KiB), concurrency "
                  f"{concurrency}: {cds['rps']:,.0f} req/s, p50 {cds['p50_ms']:.2f} ms, p99 {cds['p99_ms']:.2f} ms")
    healthz = bench_healthz_under_sparql(server)
    print(f"  /healthz while 8 runaway SPARQL queries run or queue: p50 {healthz['p50_ms']:.1f} ms, "
          f"max {healthz['max_ms']:.1f} ms of 20 (promised: under 100 ms)")
    print("explorer pages (median render on the server; gzipped bytes with their scripts and styles):")
    for path, (ms, weight) in bench_pages(server, 5 if seconds < 8 else 30).items():
        print(f"  {path[:60]:60s} {ms:6.1f} ms {weight / 1024:8.0f} KiB")
    from .bench_sparql import print_sparql

    print_sparql(k, server)
    from .bench_fhir import print_cds_trust

    print_cds_trust(k)


__all__ = ["bench_hermit", "bench_owlrl", "bench_reasonable", "bench_reasoner", "bench_server", "cohort", "run"]


def bench_screen(k: Knowledge, sizes=(1_000, 10_000, 100_000, 1_000_000), workers: int = 2, sweep: int = 20_000) -> None:
    """The cost of `spakg screen` against cohort size (synthetic clinic patients, Parquet), and against findings per
    patient (2 to every observable class, drawn from random consistent worlds, ``sweep`` each; the column screener on
    one core and the one-patient path beside it): printed."""
    import tempfile

    from .cohort import Layout, table_from_records
    from .columns import ColumnScreener
    from .screen import screen
    from .synth import world_patient, write_cohort

    layout = Layout.of(k)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"spakg screen, {workers} local workers, wall time including the cluster's start:")
        for n in sizes:
            source = Path(tmp) / f"c{n}.parquet"
            write_cohort(k, n, str(source))
            run = screen(source, Path(tmp) / f"out{n}", workers=workers)
            print(f"  {n:>9,} clinic patients: {run.seconds:6.1f} s, {n / run.seconds:9,.0f} patients/s")
        rng = random.Random(9)
        everything = len(k.facts.observable)
        print(f"on one core (no cluster), {sweep:,} patients each, against findings per patient (up to all {everything} "
              "observable classes, each at most once):")
        screener = ColumnScreener(k, layout)
        facts, decide = k.facts.patient, k.rules.decide
        for n in (2, 10, 25, everything):
            patients = [world_patient(k, rng, n) for _ in range(sweep)]
            frame = table_from_records(layout, [{"findings": p} for p in patients]).to_pandas()
            started = time.perf_counter()
            screener.screen(frame)
            columns = sweep / (time.perf_counter() - started)
            started = time.perf_counter()
            for p in patients:
                decide(facts(p))
            one = sweep / (time.perf_counter() - started)
            print(f"  {n:3d} findings: the column screener {columns:9,.0f} patients/s; one patient at a time "
                  f"{one:9,.0f}/s")
