"""The SPARQL dataset: each ontology module (each ``*.ttl`` file) is a named graph, named by its ``owl:Ontology`` IRI,
and the default graph is their union. Evaluated by pyoxigraph; answers are written in the negotiated format within
the answer's byte cap, which stops the work itself, and its row (or triple) cap.

A new module appears as a new graph with no code change; a file without an ``owl:Ontology`` is in the union only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    RdfFormat,
    Store,
    Triple,
    parse,
    parse_query_results,
    serialize,
)

from .sparql_formats import GRAPHS, SOLUTIONS, NotAcceptable, choose, content_type
from .sparql_guard import Refused, dataset_clause, is_update, refuse_unserved

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
OWL_ONTOLOGY = "http://www.w3.org/2002/07/owl#Ontology"


@dataclass(frozen=True)
class Caps:
    max_rows: int    # rows of a SELECT, triples of a CONSTRUCT or DESCRIBE
    max_bytes: int   # of any answer


class _CappedWriter:
    """A binary file for pyoxigraph's serialisers that stops them past the byte cap."""

    def __init__(self, max_bytes: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise Refused(400, "RESULT_TOO_LARGE", f"The answer is larger than {self.max_bytes} bytes; add a LIMIT.")
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _capped(triples: Iterable[Triple], max_rows: int) -> Iterator[Triple]:
    for n, triple in enumerate(triples):
        if n >= max_rows:
            raise Refused(400, "RESULT_TOO_LARGE", f"The query returns more than {max_rows} triples; add a LIMIT.")
        yield triple


def _count_rows(body: bytes, fmt: QueryResultsFormat, max_rows: int) -> None:
    """The row cap of a SELECT, counted on its written answer (pyoxigraph writes solutions in one call): only an
    answer of more bytes than the cap has rows (every row takes at least one byte) can hold too many."""
    if len(body) <= max_rows:
        return
    if fmt == QueryResultsFormat.CSV:  # which pyoxigraph does not read back (it is lossy); a quoted value may hold a newline
        rows: Iterable = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
        next(iter(rows), None)  # the header
    else:
        rows = parse_query_results(body, fmt)
    for n, _ in enumerate(rows):
        if n >= max_rows:
            raise Refused(400, "RESULT_TOO_LARGE", f"The query returns more than {max_rows} rows; add a LIMIT.")


class Dataset:
    def __init__(self, files: dict[str, bytes], base: str, prefixes: dict[str, str], output_prefixes: dict[str, str]):
        self.store = Store()
        graphs: list[str] = []
        for name, data in files.items():
            triples = list(parse(data, RdfFormat.TURTLE, base_iri=f"{base.rstrip('/')}/{name}"))
            names = sorted(t.subject.value for t in triples if t.predicate.value == RDF_TYPE
                           and t.object.value == OWL_ONTOLOGY and isinstance(t.subject, NamedNode))
            graph = NamedNode(names[0]) if names else DefaultGraph()
            if names and names[0] not in graphs:
                graphs.append(names[0])
            self.store.bulk_extend(Quad(t.subject, t.predicate, t.object, graph) for t in triples)
        self.graphs = graphs
        self.served = frozenset(graphs)
        self.prefixes = prefixes
        self.output_prefixes = output_prefixes

    def answer(self, text: str, accept: str | None, default: list[str] | None, named: list[str] | None,
               caps: Caps, base: str | None = None) -> tuple[str, bytes]:
        """(Content-Type, body) for one query; raises Refused with the code to answer."""
        clause = dataset_clause(text, self.served, self.prefixes)
        try:
            result = self.store.query(text, base_iri=base, prefixes=self.prefixes, **self._dataset(default, named, clause))
        except SyntaxError as exc:
            if is_update(text):
                raise Refused(403, "UPDATE_REFUSED", "SPARQL UPDATE is refused: this endpoint is read-only.") from None
            raise Refused(400, "SPARQL_PARSE_FAILED", f"The SPARQL query does not parse: {str(exc)[:300]}") from None
        out = _CappedWriter(caps.max_bytes)
        try:
            if isinstance(result, QueryBoolean | QuerySolutions):
                media = choose(accept, SOLUTIONS)
                fmt = getattr(QueryResultsFormat, SOLUTIONS[media])
                result.serialize(out, format=fmt)
                if isinstance(result, QuerySolutions):
                    _count_rows(out.getvalue(), fmt, caps.max_rows)
            else:
                media = choose(accept, GRAPHS)
                serialize(_capped(result, caps.max_rows), out, format=getattr(RdfFormat, GRAPHS[media]),
                          prefixes=self.output_prefixes)
        except NotAcceptable as exc:
            raise Refused(406, "NOT_ACCEPTABLE", str(exc)) from None
        return content_type(media), out.getvalue()

    def _dataset(self, default: list[str] | None, named: list[str] | None,
                 clause: tuple[list[str], list[str]] | None) -> dict:
        """pyoxigraph's dataset options: the protocol's default-graph-uri / named-graph-uri if given (they override
        FROM, SPARQL 1.1 Protocol §2.1.4), else the query's own FROM (already checked), else the union of the modules
        with every module as a named graph."""
        if default is not None or named is not None:
            refuse_unserved([*(default or ()), *(named or ())], self.served, "default-graph-uri / named-graph-uri")
            return {"default_graph": [NamedNode(g) for g in default or ()],
                    "named_graphs": [NamedNode(g) for g in named or ()]}
        if clause is not None:
            return {}
        return {"use_default_graph_as_union": True}
