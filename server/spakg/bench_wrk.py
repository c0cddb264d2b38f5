"""Load generation for ``spakg bench --server``: wrk, the C load generator, when it is installed (the client then costs
little of the two cores) — one JSON body POSTed for some seconds, read back as requests/s and latency percentiles —
and, without it, ``drive``: n requests from an httpx client at a given concurrency. Shared by the GraphQL figures
(``bench``), the CDS Hooks ones (``bench_fhir``) and SPARQL's (``bench_sparql``)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path


def wrk_post(wrk: str, url: str, body: str, concurrency: int, seconds: int = 8) -> dict[str, float]:
    """wrk POSTing one JSON body for ``seconds``: requests/s, p50 and p99 in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_text(body, encoding="utf-8")
        script = Path(tmp) / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'local f = io.open("{body_path}")\nwrk.body = f:read("*a")\nf:close()\n', encoding="utf-8")
        run = subprocess.run([wrk, f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{seconds}s", "--latency",
                              "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 30)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", run.stdout).group(1)),  # type: ignore[union-attr]
            "p50_ms": _wrk_ms(run.stdout, "50%"), "p99_ms": _wrk_ms(run.stdout, "99%")}


def _wrk_ms(report: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", report).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


__all__ = ["wrk_post"]


async def drive(send: Callable[[int], Awaitable[bool]], n: int, concurrency: int) -> dict[str, float]:
    """``n`` calls of ``send(i)`` (it answers whether the request succeeded) spread over ``concurrency`` tasks:
    requests/s, p50 and p99 in ms. A failed request stops the run: a figure over errors would flatter."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            ok = await send(i)
            latencies.append(time.perf_counter() - started)
            if not ok:
                raise RuntimeError(f"request {i} failed")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": n / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1e3,
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1e3}
