"""Synthetic patients for tests and benchmarks. Never real patients, and never presented as such."""

from __future__ import annotations

import random
from datetime import date
from typing import BinaryIO

from .errors import SpakgError
from .knowledge import Knowledge
from .logic import Inconsistent


def random_facts(k: Knowledge, rng: random.Random, fewest: int = 3, most: int = 26,
                 focus: bool = False) -> list[dict]:
    """Any observable classes, each present or absent at random: often inconsistent on purpose (for the closure's
    differential test against HermiT, which must agree on consistency as much as on what follows). ``focus``: also
    state, each with even odds, the classes that the ontology's definitions tie together (where reasoning by cases
    happens), which uniform draws reach only rarely, beside at most five others (more would mostly clash elsewhere)."""
    observable = k.facts.observable
    if focus:
        fewest, most = 0, 5
    chosen = rng.sample(observable, rng.randint(fewest, min(most, len(observable))))
    if focus:
        tied = [observable[i] for comp in k.facts.closure.components for i in range(len(observable)) if comp.mask >> i & 1]
        chosen += [c for c in tied if c not in chosen and rng.random() < 0.5]
    return [{"concept": c.id, "present": rng.random() < 0.55} for c in chosen]


def random_patient(k: Knowledge, rng: random.Random, fewest: int = 3, most: int = 26) -> list[dict]:
    """A consistent random patient over every observable class (3-26 findings), with the numbers its findings
    carry now and then: the benchmark's cohort, harsher than any clinic (most rules stay undetermined)."""
    while True:
        findings = random_facts(k, rng, fewest, most)
        for f in findings:
            if not f["present"]:
                continue
            for name in k.facts.quantities.finding_names:
                q = k.facts.quantities[name]
                if f["concept"] in q.applies_to and rng.random() < 0.7:
                    f[name] = round(rng.uniform(q.minimum, min(q.maximum, q.minimum + 90)), 1)
        try:
            k.facts.patient(findings)
        except SpakgError:  # a draw that contradicts itself: draw again
            continue
        return findings


def world_patient(k: Knowledge, rng: random.Random, n: int) -> list[dict]:
    """n findings (at most one per observable class) as they hold in one random consistent world: each class in a
    random order is present or absent with even odds unless what is already chosen decides it. Any number of
    findings up to every observable class, never a contradiction (where uniform draws of more than ~26 always clash)."""
    closure = k.facts.closure
    observable = k.facts.observable
    p, a = closure.base
    states: dict[str, bool] = {}
    for i in rng.sample(range(len(observable)), len(observable)):
        if p >> i & 1 or a >> i & 1:
            states[observable[i].id] = bool(p >> i & 1)
            continue
        literal = 2 * i + (0 if rng.random() < 0.5 else 1)
        for choice in (literal, literal ^ 1):  # the other answer when the first is ruled out by cases
            try:
                p, a = closure.extend(p, a, *closure.lit[choice])
            except Inconsistent:
                continue
            states[observable[i].id] = not choice & 1
            break
    chosen = rng.sample(sorted(states), min(n, len(states)))
    return [{"concept": c, "present": states[c]} for c in chosen]


# A clinic's mix: how often each finding is asked about (known) and, when known, present. Curators' guesses for a
# plausible back-pain clinic, only to give benchmarks and tests realistic shapes; not epidemiology.
CLINIC_MIX = {
    "BackPain": (1.0, 0.97), "InsidiousOnset": (0.7, 0.45), "SuddenOnset": (0.3, 0.3), "MorningStiffness": (0.75, 0.5),
    "ImprovementWithExercise": (0.7, 0.45), "ImprovementWithRest": (0.6, 0.5), "WorseningWithActivity": (0.5, 0.5),
    "NightPain": (0.6, 0.4), "AwakeningSecondHalfOfNight": (0.3, 0.5), "NightPainImprovesOnGettingUp": (0.3, 0.5),
    "AlternatingButtockPain": (0.3, 0.2), "HLAB27Positive": (0.35, 0.25), "ElevatedCRP": (0.6, 0.3),
    "SacroiliitisOnMRI": (0.2, 0.4), "RadiographicSacroiliitis": (0.3, 0.3), "Psoriasis": (0.5, 0.1),
    "InflammatoryBowelDisease": (0.5, 0.05), "Uveitis": (0.5, 0.06), "HeelEnthesitis": (0.3, 0.15),
    "Dactylitis": (0.3, 0.05), "PeripheralArthritis": (0.4, 0.15), "FamilyHistoryOfSpondyloarthritis": (0.4, 0.12),
    "GoodResponseToNSAIDs": (0.3, 0.5), "LimitedLumbarSpineMotion": (0.3, 0.3),
}


def clinic_patient(k: Knowledge, rng: random.Random, n: int = 0) -> dict:
    """A synthetic patient record as a back-pain clinic might hold it: realistic ages and durations, a mix of present,
    absent and unknown findings, consistent with the ontology. Synthetic: never a real patient."""
    known = {c.id for c in k.facts.observable}
    while True:
        onset = round(min(75.0, max(12.0, rng.gauss(36, 12))))
        months = round(min(480.0, rng.lognormvariate(2.5, 1.2)), 1)
        findings = []
        for concept, (asked, prevalence) in CLINIC_MIX.items():
            if concept not in known or rng.random() >= asked:
                continue
            finding: dict = {"concept": concept, "present": rng.random() < prevalence}
            if concept == "BackPain" and finding["present"]:
                finding.update(ageAtOnset=onset, durationMonths=months)
            if concept == "MorningStiffness" and finding["present"] and rng.random() < 0.6:
                finding["durationMinutes"] = round(rng.lognormvariate(3.4, 0.8))
            findings.append(finding)
        record = {"id": f"synthetic-{n}", "findings": findings, "sex": rng.choice(("FEMALE", "MALE"))}
        if rng.random() < 0.8:
            record["age"] = round(onset + months / 12 + rng.random() * 2, 1)
        try:
            k.facts.read(record)
        except SpakgError:
            continue
        return record


FHIR_AS_OF = date(2026, 11, 29)  # synthetic Bundles are dated, so their ages read back the same any day


def write_cohort(k: Knowledge, n: int, path: str, seed: int = 1, fhir: str | None = None) -> int:
    """``n`` synthetic clinic patients to ``path``: JSON lines (.jsonl) or Parquet in the cohort layout (.parquet);
    with ``fhir="bundles"``, FHIR R4 Bundles, one per line of a .jsonl or one file each in a directory; with
    ``fhir="bulk"``, a FHIR Bulk Data export in a directory (Patient.ndjson, Condition.ndjson, Observation.ndjson)."""
    import json

    rng = random.Random(seed)
    if fhir == "bulk":
        return _write_bulk(k, n, path, rng)
    if fhir:
        from pathlib import Path

        from .fhir.writer import bundle_from_record

        as_of = FHIR_AS_OF
        if path.endswith(".jsonl"):
            with open(path, "w", encoding="utf-8") as out:
                for i in range(n):
                    out.write(json.dumps(bundle_from_record(k, clinic_patient(k, rng, i), as_of)) + "\n")
            return n
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            record = clinic_patient(k, rng, i)
            (folder / f"{record['id']}.json").write_text(json.dumps(bundle_from_record(k, record, as_of)), encoding="utf-8")
        return n
    if path.endswith(".jsonl"):
        with open(path, "w", encoding="utf-8") as out:
            for i in range(n):
                out.write(json.dumps(clinic_patient(k, rng, i)) + "\n")
        return n
    import pyarrow.parquet as pq

    from .cohort import Layout, cohort_schema, table_from_records

    layout = Layout.of(k)
    with pq.ParquetWriter(path, cohort_schema(layout)) as writer:
        for start in range(0, n, 50_000):
            writer.write_table(table_from_records(layout, (clinic_patient(k, rng, i)
                                                           for i in range(start, min(n, start + 50_000)))))
    return n


def _write_bulk(k: Knowledge, n: int, path: str, rng: random.Random) -> int:
    """The Bundles' resources split by type, one resource per line, as a Bulk Data $export writes them."""
    from contextlib import ExitStack
    from pathlib import Path

    import orjson

    from .fhir.writer import bundle_from_record

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files: dict[str, BinaryIO] = {}
        for i in range(n):
            record = clinic_patient(k, rng, i)
            for entry in bundle_from_record(k, record, FHIR_AS_OF)["entry"]:
                resource = entry["resource"]
                kind = resource["resourceType"]
                if kind not in files:
                    files[kind] = stack.enter_context(open(folder / f"{kind}.ndjson", "wb"))
                files[kind].write(orjson.dumps(resource) + b"\n")
    return n
