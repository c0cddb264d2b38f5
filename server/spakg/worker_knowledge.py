"""The ontology as a cohort worker process holds it: loaded once per process and ontology directory, then kept out
of the garbage collector's walks. Shared by ``screen`` (records, Bundles, Parquet) and ``fhir.bulk`` (Bulk Data)."""

from __future__ import annotations

import gc
from pathlib import Path

from .knowledge import Knowledge

_LOADED: dict[str | None, Knowledge] = {}


def worker_knowledge(ontology: str | None) -> Knowledge:
    """The ontology, loaded once per worker process."""
    k = _LOADED.get(ontology)
    if k is None:
        k = _LOADED[ontology] = Knowledge.load(Path(ontology) if ontology else None)
        gc.collect()
        gc.freeze()  # the ontology lives as long as the worker: the collector need not walk it again
    return k


__all__ = ["worker_knowledge"]
