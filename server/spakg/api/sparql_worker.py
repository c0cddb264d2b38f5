"""The process a SPARQL query runs in: it can be killed, it has CPU-time and memory limits, and it cannot open a socket.

rdflib's evaluator cannot be cancelled, and its result is lazy (the work happens while it is serialised), so a query
runs here from parsing to the last byte of its answer; the server only waits for the bytes, and kills the process if
they do not come in time. Python-level socket sealing is the second line: SERVICE and FROM are refused before a
query reaches a worker (``sparql.refusal``), and if a path were missed the worker still could not fetch anything.
"""

from __future__ import annotations

import json
import os
import resource
import socket
from dataclasses import dataclass
from multiprocessing.connection import Connection

from rdflib import BNode, Graph, Literal, URIRef


@dataclass(frozen=True)
class WorkerLimits:
    cpu_seconds: int
    memory_bytes: int
    max_rows: int
    max_bytes: int


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


def _limit(limits: WorkerLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    os.nice(10)  # the service's own answers (/healthz, GraphQL) come first


def _cpu_budget(seconds: int) -> None:
    """RLIMIT_CPU counts the process's whole life: before each query, allow what it has used plus this query's share
    (past it the kernel sends SIGXCPU, which ends the process; the server then replaces it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, resource.RLIM_INFINITY))


def serve(conn: Connection, ntriples: bytes, limits: WorkerLimits) -> None:
    """The worker's loop: answer each query text sent on ``conn`` with (status, media type, body bytes)."""
    seal_network()
    graph = Graph()
    graph.parse(data=ntriples, format="nt")
    for prefix, namespace in json.loads(conn.recv_bytes()).items():
        graph.bind(prefix, namespace)
    _limit(limits)
    conn.send_bytes(b"ready")
    while True:
        try:
            text = conn.recv_bytes().decode("utf-8")
        except EOFError:
            return
        _cpu_budget(limits.cpu_seconds)
        try:
            conn.send(("ok", *answer(graph, text, limits)))
        except Refused as exc:
            conn.send(("error", 400, exc.code, str(exc)))
        except MemoryError:
            conn.send(("error", 503, "QUERY_TOO_LARGE",
                       "The SPARQL query needed more memory than a query may use; narrow it (add patterns or a LIMIT)."))
        except Exception as exc:  # rdflib's own evaluation errors: bad regex, bad LIMIT, unsupported forms
            conn.send(("error", 400, "SPARQL_EVALUATION_FAILED",
                       f"The SPARQL query could not be evaluated: {type(exc).__name__}: {str(exc)[:300]}"))


def answer(graph: Graph, text: str, limits: WorkerLimits) -> tuple[str, bytes]:
    result = graph.query(text)
    if result.type == "ASK":
        return "application/sparql-results+json", json.dumps({"head": {}, "boolean": bool(result.askAnswer)}).encode()
    if result.type == "SELECT":
        return "application/sparql-results+json", _select_json(result, limits)
    triples = result.graph
    if triples is None or len(triples) > limits.max_rows:
        raise Refused("RESULT_TOO_LARGE", f"The query returns more than {limits.max_rows} triples; add a LIMIT.")
    body = triples.serialize(format="turtle", encoding="utf-8")
    if len(body) > limits.max_bytes:
        raise Refused("RESULT_TOO_LARGE", f"The answer is larger than {limits.max_bytes} bytes; add a LIMIT.")
    return "text/turtle", body


def _select_json(result, limits: WorkerLimits) -> bytes:
    """SPARQL 1.1 Query Results JSON, written row by row so that the row and byte caps stop the work itself."""
    names = [str(v) for v in result.vars or ()]
    parts = [json.dumps({"head": {"vars": names}})[:-1].encode(), b', "results": {"bindings": [']
    size = sum(map(len, parts))
    for n, row in enumerate(result):
        if n >= limits.max_rows:
            raise Refused("RESULT_TOO_LARGE", f"The query returns more than {limits.max_rows} rows; add a LIMIT.")
        binding = {name: _term(value) for name, value in zip(names, row, strict=True) if value is not None}
        chunk = (b", " if n else b"") + json.dumps(binding, ensure_ascii=False).encode()
        size += len(chunk)
        if size > limits.max_bytes:
            raise Refused("RESULT_TOO_LARGE", f"The answer is larger than {limits.max_bytes} bytes; add a LIMIT.")
        parts.append(chunk)
    parts.append(b"]}}")
    return b"".join(parts)


def _term(value) -> dict:
    if isinstance(value, URIRef):
        return {"type": "uri", "value": str(value)}
    if isinstance(value, BNode):
        return {"type": "bnode", "value": str(value)}
    if isinstance(value, Literal):
        out = {"type": "literal", "value": str(value)}
        if value.language:
            out["xml:lang"] = value.language
        elif value.datatype:
            out["datatype"] = str(value.datatype)
        return out
    return {"type": "literal", "value": str(value)}
