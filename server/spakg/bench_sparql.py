"""`spakg bench --server`'s SPARQL part: the competency questions (queries/competency), in one run,

* engine only, in this process: rdflib (the endpoint's engine before pyoxigraph, and still `spakg check`'s) and
  pyoxigraph over the same modules, each query parsed, evaluated and written as SPARQL JSON;
* over HTTP against the running server (its sandboxed pyoxigraph workers), at concurrency 1 and 2 (the default
  number of workers).
"""

from __future__ import annotations

import asyncio
import time

from .bench_wrk import drive
from .checks.competency import questions
from .knowledge import Knowledge
from .resources import competency_dir


def engine_rates(k: Knowledge, rounds: int = 5) -> dict[str, float]:
    """Competency questions per second for each engine (best of ``rounds`` passes over all of them)."""
    from .api.sparql_dataset import Caps, Dataset

    texts = [q.query for q in questions(competency_dir())]
    prefixes = {p: str(ns) for p, ns in k.graph.namespaces()}
    dataset = Dataset(k.files, k.directory.as_uri(), prefixes, {})
    caps = Caps(10_000, 8 << 20)

    def rdflib_answer(text: str) -> bytes:
        return k.graph.query(text).serialize(format="json")

    def oxigraph_answer(text: str) -> bytes:
        return dataset.answer(text, None, None, None, caps)[1]

    rates = {}
    for name, answer in (("rdflib", rdflib_answer), ("pyoxigraph", oxigraph_answer)):
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for text in texts:
                answer(text)
            best = min(best, time.perf_counter() - started)
        rates[name] = len(texts) / best
    return rates


def http_rate(base: str, concurrency: int, n: int = 300) -> dict[str, float]:
    """Requests per second and p50/p99 for the competency questions in turn, over HTTP."""
    import httpx

    texts = [q.query for q in questions(competency_dir())]

    async def run() -> dict[str, float]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for text in texts:  # warm up: each worker's first answers
                (await client.get("/sparql", params={"query": text})).raise_for_status()

            async def send(i: int) -> bool:
                return (await client.get("/sparql", params={"query": texts[i % len(texts)]})).status_code == 200

            return await drive(send, n, concurrency)

    return asyncio.run(run())


def print_sparql(k: Knowledge, base: str) -> None:
    count = len(questions(competency_dir()))
    rates = engine_rates(k)
    print(f"SPARQL, the {count} competency questions (parse, evaluate, write SPARQL JSON):")
    for name, rate in rates.items():
        print(f"  engine only, {name:10s}: {rate:8,.0f} queries/s ({count / rate * 1e3:7.1f} ms for all {count})")
    print(f"  pyoxigraph / rdflib: {rates['pyoxigraph'] / rates['rdflib']:,.0f}x")
    for concurrency in (1, 2):
        s = http_rate(base, concurrency)
        print(f"  server /sparql (pyoxigraph workers), concurrency {concurrency}: {s['rps']:,.0f} req/s, "
              f"p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms")
