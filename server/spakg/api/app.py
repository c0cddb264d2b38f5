"""The starlette application: /graphql, /healthz, /ontology (content-negotiated), /sparql (read-only) and CDS Hooks
(/cds-services)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..knowledge import Knowledge
from ..web.pages import explorer_routes, not_found_page
from .cdshooks import cds_routes
from .holder import KnowledgeHolder
from .limits import Limits
from .middleware import Guard, log_internal
from .reload import OntologyWatcher, WatchSettings
from .schema import schema
from .sparql import SparqlError, SparqlPool
from .view import SpakgGraphQL

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
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


class BodyLimit:
    """Refuses request bodies over the limit with 413 and a GraphQL-shaped error, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
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
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(error_body(
            f"Request body is larger than {self.max_bytes} bytes; send fewer patients or findings per request.",
            "PAYLOAD_TOO_LARGE"), status_code=413)
        await response(scope, receive, send)


def create_app(knowledge: Knowledge | None = None, limits: Limits | None = None,
               holder: KnowledgeHolder | None = None, watch: WatchSettings | None = None,
               introspection: bool = True, graphiql: bool = True, cors_origins: tuple[str, ...] = (),
               reports: Path | None = None) -> Starlette:
    """The service. ``introspection`` and ``graphiql`` off for production: the schema is then not served to anyone
    who asks, and a browser gets no query editor. ``cors_origins``: the browser origins allowed to call it (a
    browser-based CDS Hooks client, a web app); none by default, so no page elsewhere can read its answers.
    ``reports``: a directory of cohort reports for the explorer to show (none by default)."""
    limits = limits or Limits()
    holder = holder or KnowledgeHolder(knowledge or Knowledge.load(max_findings=limits.max_findings))
    holder.current.facts.max_findings = limits.max_findings
    watcher = OntologyWatcher(holder, watch) if watch is not None else None

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

    async def sparql(request: Request) -> Response:
        try:
            media, body = await pool.query(holder.current, await _sparql_text(request))
        except SparqlError as exc:
            return JSONResponse(error_body(str(exc), exc.code), exc.status)
        return Response(body, media_type=media)

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/ontology", ontology),
        Route("/sparql", sparql, methods=["GET", "POST"]),
        *cds_routes(lambda: holder.current),
        *explorer_routes(lambda: holder.current, graphiql=graphiql, reports=reports),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return not_found_page(request, lambda: holder.current)
        return JSONResponse(error_body(f"No such route: {request.url.path}. The service answers /graphql, /sparql, "
                                       "/ontology, /cds-services, /healthz and the explorer's pages.", "NOT_FOUND"), 404)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            async with _watching(watcher):
                yield
        finally:
            pool.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: _not_allowed, Exception: _internal_error})
    app.state.holder = holder
    app.state.watcher = watcher
    app.state.graphql = graphql
    app.state.sparql = pool
    inner: ASGIApp = GZipMiddleware(BodyLimit(app, limits.max_body_bytes), minimum_size=1024)
    if cors_origins:
        inner = CORSMiddleware(inner, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                               allow_headers=["content-type", "authorization", "x-request-id"], max_age=600)
    return Guard(inner)  # type: ignore[return-value]


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's last resort (its ServerErrorMiddleware) answers with this instead of plain text."""
    request_id = request.scope.get("state", {}).get("request_id")
    log_internal(request_id, exc)
    body = error_body("Internal error; the server logged it under this request id. The request may be retried.",
                      "INTERNAL_SERVER_ERROR")
    body["errors"][0]["extensions"]["requestId"] = request_id
    return JSONResponse(body, 500)


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


async def _sparql_text(request: Request) -> str:
    """The query of a SPARQL 1.1 protocol request (GET ?query=, POST form or application/sparql-query)."""
    params: dict = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/sparql-query"):
            try:
                params["query"] = (await request.body()).decode("utf-8")
            except UnicodeDecodeError:
                raise SparqlError(400, "BAD_REQUEST", "The request body is not valid UTF-8.") from None
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            params.update(await request.form())
        elif not content_type.startswith("application/sparql-update"):
            raise SparqlError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the query as application/sparql-query, or as the "
                                                             "form field 'query'.")
        else:
            params["update"] = ""
    if "update" in params:
        raise SparqlError(403, "UPDATE_REFUSED", "SPARQL UPDATE is refused: this endpoint is read-only.")
    text = params.get("query")
    if not isinstance(text, str) or not text.strip():
        raise SparqlError(400, "BAD_REQUEST", "Give a SPARQL query in the 'query' parameter.")
    return text


__all__ = ["KnowledgeHolder", "create_app"]
