"""Python's garbage collector, tuned for a server: what is loaded at start is frozen out of the collector's sight,
and full collections run on a clock instead of every few new documents."""

from __future__ import annotations

import contextlib
import gc

FULL_COLLECTION_SECONDS = 5.0


def tune_gc() -> None:
    """Everything loaded so far lives as long as the server: out of the collector's sight, a full collection no longer
    walks it (pauses of 12-51 ms at p99 before). What a full collection still walks is mostly the query cache: Python
    ran one every few new documents (its rule: a quarter more long-lived objects), 60-150 ms each on a loaded 2-core
    machine. So full collections are left to `collect_periodically`, at most one per FULL_COLLECTION_SECONDS; the
    young generations are collected as Python does (larger thresholds made each young collection show in /healthz)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1 << 30)


async def collect_periodically(stop) -> None:
    """The full collections Python no longer starts itself (``tune_gc``): cyclic garbage that lived long enough to
    reach the oldest generation is freed here, one pause per period instead of one per few new documents."""
    import asyncio

    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FULL_COLLECTION_SECONDS)
        if gc.get_threshold()[2] >= 1 << 30:  # only where tune_gc took them over
            gc.collect()
