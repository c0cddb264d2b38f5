"""Synthetic patients for tests and benchmarks. Never real patients, and never presented as such."""

from __future__ import annotations

import random

from .errors import SpakgError
from .knowledge import Knowledge


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
