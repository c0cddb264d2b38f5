"""/sparql over HTTP, per the SPARQL 1.1 Protocol: a query by GET, by an URL-encoded (or multipart) form POST, or as
an ``application/sparql-query`` body; ``default-graph-uri`` / ``named-graph-uri`` choose the dataset among the
served modules; ``Accept`` the answer's format. ``GET /sparql`` with no parameter is the service description.

Every refusal is JSON with ``extensions.code``. The query itself is not read here: the worker parses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..knowledge import Knowledge
from .sparql import SparqlError, SparqlPool, SparqlRequest
from .sparql_formats import GRAPHS, SOLUTIONS, NotAcceptable, choose, content_type

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
FORMATS = Namespace("http://www.w3.org/ns/formats/")
RESULT_FORMATS = {"application/sparql-results+json": "SPARQL_Results_JSON", "application/sparql-results+xml":
                  "SPARQL_Results_XML", "text/csv": "SPARQL_Results_CSV", "text/tab-separated-values": "SPARQL_Results_TSV",
                  "text/turtle": "Turtle", "application/n-triples": "N-Triples", "application/rdf+xml": "RDF_XML",
                  "application/ld+json": "JSON-LD"}
RDFLIB_FORMATS = {"text/turtle": "turtle", "application/n-triples": "nt", "application/rdf+xml": "xml",
                  "application/ld+json": "json-ld"}
MAX_FORM_FIELDS = 64
# The query's base IRI is the endpoint's URL, unless a strange Host header made it no IRI at all.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+/[^\s<>\"{}|\\^`]*")
PROTOCOL_PARAMETERS = ("query", "update", "default-graph-uri", "named-graph-uri")


def error_response(exc: SparqlError) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": str(exc), "extensions": {"code": exc.code}}]},
                        exc.status)


def sparql_endpoint(current: Callable[[], Knowledge], pool: SparqlPool) -> Callable[[Request], Any]:
    descriptions: dict[tuple[str, str, str], bytes] = {}

    async def sparql(request: Request) -> Response:
        try:
            params = await _parameters(request)
            knowledge = current()
            if request.method == "GET" and not params:
                return await _description(request, knowledge, pool, descriptions)
            if "update" in params:
                raise SparqlError(403, "UPDATE_REFUSED", "SPARQL UPDATE is refused: this endpoint is read-only.")
            queries = params.get("query", [])
            if len(queries) != 1 or not queries[0].strip():
                raise SparqlError(400, "BAD_REQUEST", "Give exactly one SPARQL query, in the 'query' parameter (or as "
                                                      "an application/sparql-query body)." if queries else
                                                      "Give a SPARQL query in the 'query' parameter.")
            endpoint = str(request.url.replace(query="", fragment=""))
            media, body = await pool.query(knowledge, SparqlRequest(
                queries[0], request.headers.get("accept"), params.get("default-graph-uri"),
                params.get("named-graph-uri"), endpoint if _PLAIN_URL.fullmatch(endpoint) else None))
        except SparqlError as exc:
            return error_response(exc)
        return Response(body, headers={"content-type": media, "vary": "Accept"})

    return sparql


async def _parameters(request: Request) -> dict[str, list[str]]:
    """The protocol's parameters, each with all its values, from the URL and the body together."""
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    if request.method != "POST":
        return params
    content_type_ = request.headers.get("content-type", "")
    media, _, rest = content_type_.partition(";")
    media = media.strip().lower()
    if media in ("application/sparql-query", "application/sparql-update"):
        charset = next((v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in rest.split(";"))
                        if k.strip().lower() == "charset"), "utf-8")
        if charset not in ("utf-8", "utf8"):
            raise SparqlError(400, "BAD_REQUEST", f"The body's charset is {charset[:40]!r}; send it as UTF-8.")
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise SparqlError(400, "BAD_REQUEST", "The request body is not valid UTF-8.") from None
        params.setdefault("query" if media == "application/sparql-query" else "update", []).append(text)
    elif media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        except Exception as exc:  # starlette's MultiPartException, or HTTPException(400) wrapping it
            detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or type(exc).__name__
            raise SparqlError(400, "BAD_REQUEST", f"The form body does not parse ({str(detail)[:200]}); send the "
                                                  "query as the URL-encoded form field 'query'.") from None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise SparqlError(400, "BAD_REQUEST", f"The form field {name[:40]!r} is a file; send the query as text.")
            params.setdefault(name, []).append(value)
    else:
        raise SparqlError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the query as application/sparql-query, or as the "
                                                         "URL-encoded form field 'query'.")
    return params


async def _description(request: Request, knowledge: Knowledge, pool: SparqlPool,
                       cache: dict[tuple[str, str, str], bytes]) -> Response:
    """The SPARQL 1.1 Service Description: formats, the union default graph and each module's named graph."""
    try:
        media = choose(request.headers.get("accept"), GRAPHS)
    except NotAcceptable as exc:
        raise SparqlError(406, "NOT_ACCEPTABLE", str(exc)) from None
    endpoint = str(request.url.replace(query="", fragment=""))
    key = (knowledge.content_hash, endpoint, media)
    if key not in cache:
        if len(cache) > 16:
            cache.clear()
        cache[key] = _describe(endpoint, await pool.graph_names(knowledge)).serialize(
            format=RDFLIB_FORMATS[media], encoding="utf-8")
    return Response(cache[key], headers={"content-type": content_type(media), "vary": "Accept"})


def _describe(endpoint: str, graphs: list[str]) -> Graph:
    g = Graph()
    g.bind("sd", SD)
    g.bind("formats", FORMATS)
    service, dataset, default = BNode(), BNode(), BNode()
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, URIRef(endpoint)))
    g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    g.add((service, SD.feature, SD.UnionDefaultGraph))
    for media in (*SOLUTIONS, *GRAPHS):
        g.add((service, SD.resultFormat, FORMATS[RESULT_FORMATS[media]]))
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    g.add((dataset, SD.defaultGraph, default))
    g.add((default, RDF.type, SD.Graph))
    for name in graphs:
        named = BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(name)))
    g.add((service, URIRef("http://purl.org/dc/terms/description"),
           Literal("Read-only SPARQL 1.1 over the spakg ontology: each module a named graph, their union the default "
                   "graph. SERVICE, UPDATE and graphs not listed here are refused.")))
    return g
