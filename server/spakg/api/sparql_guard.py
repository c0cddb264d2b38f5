"""What a SPARQL query is refused for before anything evaluates it: a SERVICE block, a FROM or FROM NAMED naming a graph
this endpoint does not serve, an UPDATE. It runs in the worker (``sparql_worker``), never on the event loop: a query
can be slow to parse.

pyoxigraph, the engine, shows no parse tree, so rdflib's parser reads the queries that could hold such a clause: those
whose text (comments aside) has the letters ``service`` or ``from`` in any case, or a codepoint escape (``\\u0053``
could spell SERVICE). Any other query cannot name a service or a dataset, and goes to the engine unread by rdflib.
A query rdflib cannot read but the engine could is refused rather than evaluated unseen. The worker has no network in
any case (its own network namespace); this is the first line, and it answers with a code the client can act on.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parser import parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# Strings and IRIs are kept (a "from" inside one only costs an rdflib parse); comments are dropped. A '#' after a
# backslash is a local-name escape (ex:a\#b), not a comment.
_COMMENT = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\'|"(?:[^"\\\n]|\\.)*"'
                      r"|'(?:[^'\\\n]|\\.)*'|<[^<>\"{}|^`\\\x00-\x20]*>|(?<!\\)#[^\r\n]*")  # a comment ends at CR or LF
_SUSPECT = re.compile(r"service|from|\\u|\\U", re.IGNORECASE)
_SERVICE_WORD = re.compile(r"(?<![\w:?$])service(?![\w:])", re.IGNORECASE)  # the keyword, not ex:service or ?service
SERVICE_REFUSED = ("SERVICE is refused: this endpoint queries the served ontology only and fetches nothing; remove the "
                   "SERVICE block.")


def _without_comments(text: str) -> str:
    return _COMMENT.sub(lambda m: " " if m.group().startswith("#") else m.group(), text)


def dataset_clause(text: str, served: frozenset[str], prefixes: dict[str, str]) -> tuple[list[str], list[str]] | None:
    """The query's FROM and FROM NAMED graphs (None if it has no dataset clause); raises Refused for SERVICE, for a
    graph not served here, and for a suspect query rdflib cannot read."""
    if not _SUSPECT.search(_without_comments(text)):
        return None
    return _read(text, served, tuple(sorted(prefixes.items())))


@lru_cache(maxsize=128)
def _read(text: str, served: frozenset[str], prefixes: tuple[tuple[str, str], ...]) -> tuple[list[str], list[str]] | None:
    try:
        algebra = prepareQuery(text, initNs=dict(prefixes)).algebra
    except Exception as exc:
        if is_update(text):
            raise Refused(403, "UPDATE_REFUSED", "SPARQL UPDATE is refused: this endpoint is read-only.") from None
        if _SERVICE_WORD.search(_without_comments(text)):  # rdflib misreads some (a '#' in an IRI before SERVICE)
            raise Refused(400, "FEDERATION_REFUSED", SERVICE_REFUSED) from None
        raise Refused(400, "SPARQL_PARSE_FAILED", f"The SPARQL query does not parse: {str(exc)[:300]}") from None
    if _mentions(algebra, "ServiceGraphPattern"):
        raise Refused(400, "FEDERATION_REFUSED", SERVICE_REFUSED)
    clauses = algebra.get("datasetClause") or []
    if not clauses:
        return None
    default = [str(c["default"]) for c in clauses if "default" in c]
    named = [str(c["named"]) for c in clauses if "named" in c]
    refuse_unserved(default + named, served, "FROM")
    return default, named


def refuse_unserved(graphs: list[str], served: frozenset[str], where: str) -> None:
    unknown = [g for g in graphs if g not in served]
    if unknown:
        raise Refused(400, "FEDERATION_REFUSED",
                      f"{where} names {unknown[0][:200]!r}, which is not a graph of this endpoint (it fetches nothing "
                      f"from the network). Its graphs: {', '.join(sorted(served))}.")


def is_update(text: str) -> bool:
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
