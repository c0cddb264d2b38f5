"""Synthetic patients for tests and benchmarks. Never real patients, and never presented as such."""

from __future__ import annotations

import random

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
