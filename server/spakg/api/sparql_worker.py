"""The process a SPARQL query runs in: it can be killed, it has CPU-time and memory limits, and it has no network.

A query runs here from parsing to the last byte of its answer (pyoxigraph cannot be cancelled, and it evaluates
lazily, while the answer is written); the server only waits for the bytes, and kills the process if they do not come
in time. Before it reads any query the worker moves into a network namespace of its own (``unshare``: a new user and
network namespace, no interface but a loopback that is down), so no code in it — Python's sockets, rdflib, or
pyoxigraph's Rust HTTP client for SERVICE — can reach any address, loopback included. Python-level socket sealing
and the refusals before evaluation (``sparql_guard``) are the other lines. A host that allows no such namespace gets
no worker (SPARQL_UNAVAILABLE, and the reason in the log), never a worker with the network.

It is started as ``python -m spakg.api.sparql_worker FD`` (this module and its engine only, not the server) with its end of a
socketpair made before the namespace: the ontology's modules come first, then one message a query (JSON), one a reply
(a 4-byte header length, the JSON header, then the body bytes).
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import resource
import socket
import struct
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection

from .sparql_dataset import Caps, Dataset
from .sparql_guard import Refused

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class WorkerLimits:
    cpu_seconds: int
    memory_bytes: int
    max_rows: int
    max_bytes: int


class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs) -> None:
        raise OSError("network access is disabled in the SPARQL worker")


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the SPARQL worker")


def seal_network() -> None:
    """No socket can be made in this process from Python code (urllib, http.client, rdflib's SERVICE and FROM)."""
    socket.socket = _NoSocket  # type: ignore[misc]
    socket.create_connection = _no_network  # type: ignore[assignment]
    socket.getaddrinfo = _no_network  # type: ignore[assignment]
    socket.socketpair = _no_network  # type: ignore[assignment]


def isolate_network() -> None:
    """Leave the host's network: a new network namespace (in a new user namespace, so no privilege is needed; as root
    the network namespace alone). Must run while the process has one thread. Raises OSError if the host allows
    neither."""
    unshare = getattr(ctypes.CDLL(None, use_errno=True), "unshare", None)  # Linux only
    if unshare is None:
        raise OSError("the SPARQL worker cannot leave the network: this system has no network namespaces (Linux has)")
    errors = []
    for flags in (CLONE_NEWUSER | CLONE_NEWNET, CLONE_NEWNET):
        if unshare(flags) == 0:
            return
        errors.append(os.strerror(ctypes.get_errno()))
    raise OSError(f"the SPARQL worker cannot leave the network (unshare: {'; '.join(errors)}); this host must allow "
                  "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run spakg as root")


def _limit(limits: WorkerLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if os.getpriority(os.PRIO_PROCESS, 0) < 10:  # the server lowers it at the start; a worker started otherwise
        os.setpriority(os.PRIO_PROCESS, 0, 10)


def _cpu_budget(seconds: int) -> None:
    """RLIMIT_CPU counts the process's whole life: before each query, allow what it has used plus this query's share
    (past it the kernel sends SIGXCPU, which ends the process; the server then replaces it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, resource.RLIM_INFINITY))


def reply(conn: Connection, header: dict, body: bytes = b"") -> None:
    head = json.dumps(header).encode()
    conn.send_bytes(struct.pack("!I", len(head)) + head + body)


def serve(conn: Connection) -> None:
    """The worker's loop: the ontology's modules first, then answer each query sent on ``conn``."""
    try:
        isolate_network()
    except OSError as exc:
        reply(conn, {"status": 503, "code": "SPARQL_UNAVAILABLE", "message": str(exc)})
        return
    seal_network()
    try:
        setup = pickle.loads(conn.recv_bytes())  # from the server that started this process: trusted
    except (EOFError, OSError):
        return  # the server stopped before the worker was set up (Ctrl-C at start): nothing to answer
    limits = WorkerLimits(**setup["limits"])
    dataset = Dataset(setup["files"], setup["base"], setup["prefixes"], setup["output_prefixes"])
    del setup
    caps = Caps(limits.max_rows, limits.max_bytes)
    _limit(limits)
    reply(conn, {"status": 200, "graphs": dataset.graphs})
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:
            return
        _cpu_budget(limits.cpu_seconds)
        try:
            media, body = dataset.answer(request["query"], request.get("accept"), request.get("default"),
                                         request.get("named"), caps, request.get("base"))
        except Refused as exc:
            reply(conn, {"status": exc.status, "code": exc.code, "message": str(exc)})
        except MemoryError:
            reply(conn, {"status": 503, "code": "QUERY_TOO_LARGE", "message": "The SPARQL query needed more memory "
                         "than a query may use; narrow it (add patterns or a LIMIT)."})
        except Exception as exc:  # pyoxigraph's evaluation errors: a bad argument, an unsupported form
            reply(conn, {"status": 400, "code": "SPARQL_EVALUATION_FAILED",
                         "message": f"The SPARQL query could not be evaluated: {type(exc).__name__}: {str(exc)[:300]}"})
        else:
            reply(conn, {"status": 200, "media": media}, body)


if __name__ == "__main__":  # started by the server (sparql.SparqlPool) with its end of a socketpair
    serve(Connection(int(sys.argv[1])))
