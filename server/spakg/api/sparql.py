"""The SPARQL worker pool: read-only SPARQL 1.1 over the served ontology, run where it cannot hurt the service.

Nothing about a query is done on the event loop but moving its bytes: the worker process (``sparql_worker``) parses
it, refuses what would touch the network or change data, evaluates it with pyoxigraph and writes the answer in the
negotiated format, within CPU-time, memory and size limits and without a network. A query that does not answer by
its deadline is killed with its worker, which is replaced in the background; every wait of a request — for an idle
worker, for the reply — ends at that one deadline. Processes because pyoxigraph cannot be cancelled.

Replies are read from the worker's socket by the event loop as they arrive (a reply larger than a socket buffer
comes in many pieces), never with a blocking read. A worker that dies mid-query is asked how (its exit signal), and
the answer says what happened: out of CPU time, out of memory, or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from dataclasses import asdict, dataclass, field

from ..knowledge import Knowledge
from ..namespaces import PREFIXES
from .limits import Limits
from .sparql_worker import WorkerLimits

log = logging.getLogger("spakg.sparql")
WORKER_NICENESS = 10  # the service's own answers (/healthz, GraphQL) come first
RETRY_AFTER_FAILURE = 5.0  # seconds before another worker is started after one failed to start


class SparqlError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class SparqlRequest:
    query: str
    accept: str | None = None
    default_graphs: list[str] | None = None   # default-graph-uri, if the request gave any
    named_graphs: list[str] | None = None     # named-graph-uri
    base: str | None = None                   # the query's base IRI: the endpoint's URL

    def message(self) -> bytes:
        return json.dumps({"query": self.query, "accept": self.accept, "default": self.default_graphs,
                           "named": self.named_graphs, "base": self.base}).encode()


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    version: str          # the ontology content hash it holds
    graphs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Failed:
    """Put in the idle queue when a worker could not start, so that a waiting request learns it at once."""

    reason: str


class SparqlPool:
    """Worker processes holding the current ontology; a query takes an idle one, or waits within its deadline."""

    def __init__(self, limits: Limits, size: int = 2) -> None:
        self.limits = limits
        self.size = size
        self.worker_limits = WorkerLimits(cpu_seconds=max(1, int(limits.sparql_timeout_seconds) + 1),
                                          memory_bytes=limits.sparql_memory_bytes, max_rows=limits.sparql_max_rows,
                                          max_bytes=limits.sparql_max_bytes)
        self._idle: asyncio.Queue[_Worker | _Failed] | None = None
        self._count = 0                    # workers alive or starting
        self._starting = 0
        self._tasks: set[asyncio.Task] = set()
        self._failed_at: float | None = None
        self._latest: Knowledge | None = None  # the ontology version the last query asked for
        self.killed = 0
        self.graphs: dict[str, list[str]] = {}  # ontology content hash -> its named graphs, as a worker read them

    async def query(self, knowledge: Knowledge, request: SparqlRequest) -> tuple[str, bytes]:
        """(Content-Type, body) of the answer; raises SparqlError."""
        loop = asyncio.get_running_loop()
        timeout = self.limits.sparql_timeout_seconds
        deadline = loop.time() + timeout
        worker = await self._take(knowledge, deadline)
        waited = timeout - (deadline - loop.time())
        try:
            async with asyncio.timeout_at(deadline):
                await _send(worker.writer, request.message())
                header, body = await _receive(worker.reader)
        except TimeoutError:
            self.killed += 1
            self._discard(worker)
            queued = f" (of which {waited:.1f} s waiting for a worker)" if waited >= 0.1 else ""
            raise SparqlError(503, "QUERY_TIMEOUT", f"The SPARQL query took longer than {timeout:g} s{queued} and was "
                                                    "stopped; narrow it (add patterns or a LIMIT).") from None
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            raise await self._died(worker) from None
        except BaseException:  # cancelled (the client left): the worker may be mid-query, so it cannot be reused
            self._discard(worker)
            raise
        self._queue().put_nowait(worker)
        if header["status"] == 200:
            return header["media"], body
        raise SparqlError(header["status"], header["code"], header["message"])

    async def graph_names(self, knowledge: Knowledge) -> list[str]:
        """The named graphs of this ontology version (starting a worker if none has read it yet)."""
        if knowledge.content_hash not in self.graphs:
            loop = asyncio.get_running_loop()
            self._queue().put_nowait(await self._take(knowledge, loop.time() + self.limits.sparql_timeout_seconds))
        return self.graphs[knowledge.content_hash]

    # ------------------------------------------------------------------ workers
    def _queue(self) -> asyncio.Queue[_Worker | _Failed]:
        if self._idle is None:
            self._idle = asyncio.Queue()
        return self._idle

    async def _take(self, knowledge: Knowledge, deadline: float) -> _Worker:
        idle = self._queue()
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    self._fill(knowledge)
                    got = await idle.get()
                    if isinstance(got, _Failed):
                        if self._count:  # an old failure: a worker has been started since
                            continue
                        idle.put_nowait(got)  # every request waiting now learns it too
                        raise SparqlError(503, "SPARQL_UNAVAILABLE", "The SPARQL worker did not start; the server "
                                                                     "logged why. Retry later.")
                    if got.version == knowledge.content_hash and got.process.returncode is None:
                        return got
                    self._discard(got)  # an older ontology (after a reload) or a dead process: replace it
        except TimeoutError:
            what = "starting" if self._starting == self._count else "busy"
            raise SparqlError(503, "SPARQL_BUSY", f"Every SPARQL worker is {what}; retry in a few seconds.") from None

    def start(self, knowledge: Knowledge) -> None:
        """Start the workers now (when the server starts), so that the first query does not wait for them."""
        self._fill(knowledge)

    def _fill(self, knowledge: Knowledge) -> None:
        """Start workers in the background up to the pool's size (a request never waits on a start past its deadline)."""
        self._latest = knowledge
        loop = asyncio.get_running_loop()
        if self._failed_at is not None and loop.time() - self._failed_at < RETRY_AFTER_FAILURE:
            if self._count == 0:
                raise SparqlError(503, "SPARQL_UNAVAILABLE", "The SPARQL worker did not start; the server logged "
                                                             "why. Retry later.")
            return
        while self._count < self.size:
            self._count += 1
            self._background(self._start(knowledge))

    def _background(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, knowledge: Knowledge) -> None:
        self._starting += 1
        try:
            worker = await self._spawn(knowledge)
        except Exception as exc:
            self._count -= 1
            self._starting -= 1
            self._failed_at = asyncio.get_running_loop().time()
            log.error("a SPARQL worker did not start: %s", exc)
            self._queue().put_nowait(_Failed(str(exc)))
            return
        self._starting -= 1
        self._failed_at = None
        self.graphs[knowledge.content_hash] = worker.graphs
        if len(self.graphs) > 4:  # versions before several reloads
            self.graphs.pop(next(iter(self.graphs)))
        self._queue().put_nowait(worker)

    async def _spawn(self, knowledge: Knowledge) -> _Worker:
        """A new process running ``sparql_worker`` (only it and what it imports: not the server's modules), given the
        ontology's modules over its socket."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "spakg.api.sparql_worker", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL)
        finally:
            theirs.close()
        with contextlib.suppress(OSError):  # lower priority from its first instruction: its start-up competes too
            os.setpriority(os.PRIO_PROCESS, process.pid, WORKER_NICENESS)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        setup = {"files": knowledge.files, "base": knowledge.directory.as_uri(),
                 "prefixes": {p: str(ns) for p, ns in knowledge.graph.namespaces()},
                 "output_prefixes": {p: str(ns) for p, ns in PREFIXES.items()}, "limits": asdict(self.worker_limits)}
        try:
            async with asyncio.timeout(60):
                await _send(writer, pickle.dumps(setup))
                header, _ = await _receive(reader)
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            _kill(process)
            writer.close()
            raise RuntimeError(f"the worker exited or did not answer while loading (exit {process.returncode})") from None
        if header["status"] != 200:
            _kill(process)
            writer.close()
            raise RuntimeError(header["message"])
        return _Worker(process, reader, writer, knowledge.content_hash, header["graphs"])

    def _discard(self, worker: _Worker) -> None:
        self._count -= 1
        _kill(worker.process)
        worker.writer.close()
        self._background(worker.process.wait())  # reaped off the event loop
        self._replace()

    def _replace(self) -> None:
        """Start a replacement at once, rather than when the next query comes."""
        if self._latest is not None:
            with contextlib.suppress(SparqlError):
                self._fill(self._latest)

    async def _died(self, worker: _Worker) -> SparqlError:
        """The worker closed its end mid-query: say why, from how it ended."""
        self._count -= 1
        worker.writer.close()
        try:
            exit_code = await asyncio.wait_for(worker.process.wait(), 2)
        except TimeoutError:
            exit_code = None
            _kill(worker.process)
            self._background(worker.process.wait())
        self._replace()
        if exit_code == -signal.SIGXCPU:
            return SparqlError(503, "QUERY_TIMEOUT", "The SPARQL query used more CPU time than a query may and was "
                                                     "stopped; narrow it (add patterns or a LIMIT).")
        if exit_code == -signal.SIGABRT:  # Rust aborts when an allocation fails under the worker's memory limit
            return SparqlError(503, "QUERY_TOO_LARGE", "The SPARQL query needed more memory than a query may use and "
                                                       "was stopped; narrow it (add patterns or a LIMIT).")
        how = f"signal {-exit_code}" if exit_code is not None and exit_code < 0 else f"exit {exit_code}"
        log.error("a SPARQL worker stopped mid-query (%s)", how)
        return SparqlError(503, "SPARQL_WORKER_LOST", f"The SPARQL worker stopped while running the query ({how}) and "
                                                      "has been replaced; retry.")

    def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            got = self._idle.get_nowait()
            if isinstance(got, _Worker):
                _kill(got.process)
                got.writer.close()


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def _send(writer: asyncio.StreamWriter, message: bytes) -> None:
    """One message in multiprocessing's framing (what the worker's Connection.recv_bytes reads)."""
    writer.write(struct.pack("!i", len(message)) + message)
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> tuple[dict, bytes]:
    """One reply, read as its pieces arrive: a header of JSON, then the body."""
    (size,) = struct.unpack("!i", await reader.readexactly(4))
    if size == -1:  # multiprocessing's framing for messages over 2 GiB
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    data = await reader.readexactly(size)
    (head,) = struct.unpack("!I", data[:4])
    return json.loads(data[4:4 + head]), data[4 + head:]
