"""/sparql: read-only SPARQL 1.1 over the served ontology, run where it cannot hurt the service.

Each query is parsed here (cached), refused before evaluation if it would touch the network (SERVICE, FROM, FROM
NAMED) or change data (UPDATE), then evaluated and serialised in a worker process (``sparql_worker``) with CPU-time,
memory, row and byte limits. A worker that does not answer in time is killed and replaced, so a runaway query costs
at most its timeout and never the event loop. Processes rather than threads because rdflib cannot be cancelled;
rdflib rather than pyoxigraph because the endpoint must answer exactly what `spakg check`'s competency questions do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection

from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parser import parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from ..knowledge import Knowledge
from .limits import Limits
from .sparql_worker import WorkerLimits, serve


class SparqlError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    version: str          # the ontology content hash it holds

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(timeout=2)
        self.conn.close()


def check(text: str) -> None:
    """Refuse, before any evaluation, what does not parse, what would change data and what would reach the network."""
    try:
        prepared = _prepare(text)
    except Exception as exc:
        if _is_update(text):
            raise SparqlError(403, "UPDATE_REFUSED", "SPARQL UPDATE is refused: this endpoint is read-only.") from None
        raise SparqlError(400, "SPARQL_PARSE_FAILED", f"The SPARQL query does not parse: {str(exc)[:300]}") from None
    algebra = prepared.algebra
    if algebra.get("datasetClause"):
        raise SparqlError(400, "FEDERATION_REFUSED", "FROM and FROM NAMED are refused: this endpoint queries the served "
                                                     "ontology only and fetches nothing; remove the FROM clause.")
    if _mentions(algebra, "ServiceGraphPattern"):
        raise SparqlError(400, "FEDERATION_REFUSED", "SERVICE is refused: this endpoint queries the served ontology "
                                                     "only and fetches nothing; remove the SERVICE block.")


@lru_cache(maxsize=256)
def _prepare(text: str):
    return prepareQuery(text)


def _is_update(text: str) -> bool:
    try:
        parseUpdate(text)
    except Exception:
        return False
    return True


def _mentions(node: object, name: str) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, CompValue):
            if n.name == name:
                return True
            stack.extend(n.values())
        elif isinstance(n, list | tuple | set):
            stack.extend(n)
    return False


class SparqlPool:
    """Worker processes holding the current ontology; a query takes an idle one, or waits within its timeout."""

    def __init__(self, limits: Limits, size: int = 2) -> None:
        self.limits = limits
        self.size = size
        self.worker_limits = WorkerLimits(cpu_seconds=max(1, int(limits.sparql_timeout_seconds) + 1),
                                          memory_bytes=limits.sparql_memory_bytes, max_rows=limits.sparql_max_rows,
                                          max_bytes=limits.sparql_max_bytes)
        self._idle: asyncio.Queue[_Worker] | None = None
        self._started = 0
        self._lock = asyncio.Lock()
        self.killed = 0
        self._context = multiprocessing.get_context("spawn")  # no copy of the server's threads or sockets

    async def query(self, knowledge: Knowledge, text: str) -> tuple[str, bytes]:
        check(text)
        timeout = self.limits.sparql_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        worker = await self._take(knowledge, deadline)
        try:
            worker.conn.send_bytes(text.encode("utf-8"))
            reply = await _receive(worker.conn, deadline - loop.time())
        except TimeoutError:
            worker.kill()
            self.killed += 1
            self._started -= 1
            raise SparqlError(503, "QUERY_TIMEOUT", f"The SPARQL query ran longer than {timeout:g} s and was stopped; "
                                                    "narrow it (add patterns or a LIMIT).") from None
        except (EOFError, OSError):  # the worker died: over its CPU-time or memory limit
            worker.kill()
            self._started -= 1
            raise SparqlError(503, "QUERY_TOO_LARGE", "The SPARQL query needed more time or memory than a query may "
                                                      "use and was stopped; narrow it (add patterns or a LIMIT).") from None
        self._give_back(worker)
        if reply[0] == "ok":
            return reply[1], reply[2]
        _, status, code, message = reply
        raise SparqlError(status, code, message)

    async def _take(self, knowledge: Knowledge, deadline: float) -> _Worker:
        if self._idle is None:
            self._idle = asyncio.Queue()
        loop = asyncio.get_running_loop()
        while True:
            async with self._lock:
                if self._idle.empty() and self._started < self.size:
                    self._started += 1
                    try:
                        worker = await asyncio.to_thread(self._spawn, knowledge)
                    except Exception:
                        self._started -= 1
                        raise
                    self._idle.put_nowait(worker)
            try:
                worker = await asyncio.wait_for(self._idle.get(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise SparqlError(503, "SPARQL_BUSY", "Every SPARQL worker is busy; retry in a few seconds.") from None
            if worker.version == knowledge.content_hash and worker.process.is_alive():
                return worker
            worker.kill()  # an older ontology (after a reload) or a dead process: replace it
            self._started -= 1

    def _give_back(self, worker: _Worker) -> None:
        assert self._idle is not None
        self._idle.put_nowait(worker)

    def _spawn(self, knowledge: Knowledge) -> _Worker:
        parent, child = self._context.Pipe()
        data = knowledge.graph.serialize(format="nt", encoding="utf-8")
        process = self._context.Process(target=serve, args=(child, data, self.worker_limits), daemon=True,
                                        name="spakg-sparql")
        process.start()
        child.close()
        parent.send_bytes(json.dumps({p: str(ns) for p, ns in knowledge.graph.namespaces()}).encode())
        if not parent.poll(60) or parent.recv_bytes() != b"ready":
            process.kill()
            raise SparqlError(503, "SPARQL_UNAVAILABLE", "The SPARQL worker did not start; retry later.")
        return _Worker(process, parent, knowledge.content_hash)

    def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            self._idle.get_nowait().kill()


async def _receive(conn: Connection, timeout: float):
    """The worker's reply, awaited without a thread: the event loop watches the pipe."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, max(0.0, timeout))
    finally:
        loop.remove_reader(fd)
    return conn.recv()
