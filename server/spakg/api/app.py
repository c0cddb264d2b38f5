"""The starlette application: /graphql (and its SDL at /graphql/schema.graphql), /healthz, /ontology
(content-negotiated), /sparql (read-only) and CDS Hooks (/cds-services). Every error, HTTP-level ones included, is
coded JSON: the handlers below for starlette's, `middleware.Guard` for anything raised, `protocol.py` for uvicorn's."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..knowledge import Knowledge
from ..web.pages import explorer_routes, not_found_page
from .cds_feedback import FeedbackCounters
from .cdshooks import MAX_BODY_BYTES as CDS_MAX_BODY_BYTES
from .cdshooks import cds_routes, hook_error
from .collector import collect_periodically
from .fhir_routes import fhir_routes
from .holder import KnowledgeHolder
from .limits import Limits
from .middleware import Guard, internal_error_body, log_internal
from .reload import OntologyWatcher, WatchSettings
from .schema import schema, schema_sdl
from .sparql import SparqlPool
from .sparql_protocol import sparql_endpoint
from .view import SpakgGraphQL

if TYPE_CHECKING:
    from .cds_trust import CdsTrust

RDF_FORMATS = {  # media type -> rdflib format
    "text/turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
}
FORMAT_NAMES = {"turtle": "text/turtle", "ttl": "text/turtle", "xml": "application/rdf+xml", "rdfxml":
                "application/rdf+xml", "rdf": "application/rdf+xml", "json-ld": "application/ld+json",
                "jsonld": "application/ld+json", "nt": "application/n-triples", "ntriples": "application/n-triples",
                **{m: m for m in RDF_FORMATS}}


def error_body(message: str, code: str) -> dict:
    """Every error answer's shape: no ``data`` (nothing was executed), each error with ``extensions.code``."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class CodedCORSMiddleware(CORSMiddleware):
    """starlette's CORS, with a refused preflight answered as coded JSON (starlette's is plain text)."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode("utf-8", "replace")  # "Disallowed CORS origin, method" ...
        return JSONResponse(error_body(f"{refused}: this service allows the origins given to --cors-origin, the "
                                       "methods GET and POST, and the headers content-type, authorization and "
                                       "x-request-id.", "CORS_REFUSED"), 400)


class BodyLimit:
    """Refuses request bodies over the limit with 413 and a GraphQL-shaped error, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}  # path prefix -> its own limit (a CDS call carries a whole record)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((n for prefix, n in self.larger.items() if scope["path"].startswith(prefix)), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"Request body is larger than {limit} bytes; send fewer patients or findings per request."
        response = hook_error(413, "PAYLOAD_TOO_LARGE", message) if scope["path"].startswith("/cds-services") else \
            JSONResponse(error_body(message, "PAYLOAD_TOO_LARGE"), status_code=413)
        await response(scope, receive, send)


def create_app(knowledge: Knowledge | None = None, limits: Limits | None = None,
               holder: KnowledgeHolder | None = None, watch: WatchSettings | None = None,
               introspection: bool = True, graphiql: bool = True, cors_origins: tuple[str, ...] = (),
               reports: Path | None = None, cds_trust: CdsTrust | None = None) -> Starlette:
    """The service. ``introspection`` and ``graphiql`` off for production: the schema is then not served to anyone
    who asks, and a browser gets no query editor. ``cors_origins``: the browser origins allowed to call it (a
    browser-based CDS Hooks client, a web app); none by default, so no page elsewhere can read its answers.
    ``reports``: a directory of cohort reports for the explorer to show (none by default). ``cds_trust``: the CDS
    clients trusted to call the CDS Hooks service (anyone may, without it)."""
    limits = limits or Limits()
    holder = holder or KnowledgeHolder(knowledge or Knowledge.load(max_findings=limits.max_findings))
    holder.current.facts.max_findings = limits.max_findings
    watcher = OntologyWatcher(holder, watch) if watch is not None else None
    feedback = FeedbackCounters()

    def context() -> dict:
        # One version per request: a reload while a request runs must not mix two ontologies in one answer.
        k, error = holder.current, holder.last_error
        return {"knowledge": lambda: k, "last_reload_error": lambda: error}

    graphql = SpakgGraphQL(schema.graphql_schema, context, limits, introspection=introspection, graphiql=graphiql)

    async def healthz(request: Request) -> JSONResponse:
        k = holder.current
        body = {"status": "ok", "ontologyVersion": k.version, "ontologyHash": k.content_hash,
                "classes": len(k.concepts), "rules": len(k.rules.rules), "lastReloadError": holder.last_error,
                "watching": watcher is not None}
        if watcher is not None:
            body |= {"reloads": watcher.reloads, "refusedEdits": watcher.refusals}
        body["cdsHooks"] = {"callers": "trusted-only" if cds_trust is not None else "open",
                            "feedback": feedback.as_dict()}
        return JSONResponse(body)

    async def ontology(request: Request) -> Response:
        wanted = request.query_params.get("format")
        media = FORMAT_NAMES.get(wanted.lower()) if wanted else None
        if wanted and media is None:
            return JSONResponse(error_body(f"Unknown format {wanted[:40]!r}; use one of {', '.join(FORMAT_NAMES)}.",
                                           "BAD_REQUEST"), 400)
        if media is None:
            accept = request.headers.get("accept", "text/turtle")
            media = next((m for m in RDF_FORMATS if m in accept), "text/turtle")
        k = holder.current
        key = f"{k.content_hash}:{media}"
        if key not in holder.serialized:
            if len(holder.serialized) > 8:  # older versions' serializations after reloads
                holder.serialized.clear()
            holder.serialized[key] = k.graph.serialize(format=RDF_FORMATS[media])
        return Response(holder.serialized[key], media_type=media,
                        headers={"ETag": f'"{k.content_hash}"', "Vary": "Accept"})

    pool = SparqlPool(limits, size=limits.sparql_workers)

    sdl = schema_sdl()
    sdl_etag = '"' + hashlib.sha256(sdl.encode()).hexdigest()[:16] + '"'

    async def graphql_sdl(request: Request) -> Response:
        # The schema in SDL: public in the repository anyway, so served even with introspection off.
        return PlainTextResponse(sdl, headers={"ETag": sdl_etag})

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/graphql/schema.graphql", graphql_sdl),
        Route("/healthz", healthz),
        Route("/ontology", ontology),
        Route("/sparql", sparql_endpoint(lambda: holder.current, pool), methods=["GET", "POST"]),
        *cds_routes(lambda: holder.current, trust=cds_trust, feedback=feedback),
        *fhir_routes(lambda: holder.current),
        *explorer_routes(lambda: holder.current, graphiql=graphiql, reports=reports),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return not_found_page(request, lambda: holder.current)
        return JSONResponse(error_body(f"No such route: {request.url.path}. The service answers /graphql, /sparql, "
                                       "/ontology, /cds-services, /healthz and the explorer's pages.", "NOT_FOUND"), 404)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool.start(holder.current)
        stop = asyncio.Event()
        collector = asyncio.create_task(collect_periodically(stop))
        try:
            async with _watching(watcher):
                yield
        finally:
            stop.set()
            await collector
            pool.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: _not_allowed, HTTPException: _http_error,
                                        Exception: _internal_error})
    app.state.holder = holder
    app.state.watcher = watcher
    app.state.graphql = graphql
    app.state.sparql = pool
    inner: ASGIApp = GZipMiddleware(BodyLimit(app, limits.max_body_bytes, {"/cds-services/": CDS_MAX_BODY_BYTES}),
                                    minimum_size=1024)
    if cors_origins:
        inner = CodedCORSMiddleware(inner, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                               allow_headers=["content-type", "authorization", "x-request-id"], max_age=600)
    return Guard(inner)  # type: ignore[return-value]


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's last resort (its ServerErrorMiddleware) answers with this instead of plain text."""
    request_id = request.scope.get("state", {}).get("request_id")
    log_internal(request_id, exc)
    return JSONResponse(internal_error_body(request_id), 500)


HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE",
              413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Any HTTPException a route or starlette raises (a malformed multipart or form body, ...) as coded JSON."""
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_SERVER_ERROR")
    body = error_body(f"{exc.detail}." if exc.detail and not str(exc.detail).endswith(".") else str(exc.detail), code)
    body["errors"][0]["extensions"]["requestId"] = request.scope.get("state", {}).get("request_id")
    return JSONResponse(body, exc.status_code, headers=exc.headers)


async def _not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body(f"{request.method} is not allowed on {request.url.path}.", "METHOD_NOT_ALLOWED"), 405)


@contextlib.asynccontextmanager
async def _watching(watcher: OntologyWatcher | None) -> AsyncIterator[None]:
    if watcher is None:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)


__all__ = ["KnowledgeHolder", "create_app"]
