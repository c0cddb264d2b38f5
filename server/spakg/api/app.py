"""The starlette application: /graphql, /healthz, /ontology (content-negotiated) and /sparql (read-only)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache

from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parser import parseUpdate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..knowledge import Knowledge
from .limits import Limits
from .reload import OntologyWatcher, WatchSettings
from .schema import schema
from .view import SpakgGraphQL

RDF_FORMATS = {  # media type -> rdflib format
    "text/turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
}


@dataclass
class KnowledgeHolder:
    """The knowledge being served; a reload swaps ``current`` atomically, a refused edit sets ``last_error``."""

    current: Knowledge
    last_error: str | None = None
    serialized: dict[str, str] = field(default_factory=dict)


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
               holder: KnowledgeHolder | None = None, watch: WatchSettings | None = None) -> Starlette:
    limits = limits or Limits()
    holder = holder or KnowledgeHolder(knowledge or Knowledge.load(max_findings=limits.max_findings))
    holder.current.facts.max_findings = limits.max_findings
    watcher = OntologyWatcher(holder, watch) if watch is not None else None

    def context() -> dict:
        # One version per request: a reload while a request runs must not mix two ontologies in one answer.
        k, error = holder.current, holder.last_error
        return {"knowledge": lambda: k, "last_reload_error": lambda: error}

    graphql = SpakgGraphQL(schema.graphql_schema, context, limits)

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
        media = next((m for m, f in RDF_FORMATS.items() if wanted in (m, f)), None) if wanted else None
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

    async def sparql(request: Request) -> Response:
        params: dict = dict(request.query_params)
        if request.method == "POST":
            if request.headers.get("content-type", "").startswith("application/sparql-query"):
                params["query"] = (await request.body()).decode("utf-8", "replace")
            else:
                params.update(await request.form())
        text = params.get("query")
        if "update" in params:
            return JSONResponse(error_body("SPARQL UPDATE is refused: this endpoint is read-only.", "UPDATE_REFUSED"), 403)
        if not text:
            return JSONResponse(error_body("Give a SPARQL query in the 'query' parameter.", "BAD_REQUEST"), 400)
        try:
            prepared = _prepare(text)
        except Exception as exc:
            if _is_update(text):
                return JSONResponse(error_body("SPARQL UPDATE is refused: this endpoint is read-only.", "UPDATE_REFUSED"), 403)
            return JSONResponse(error_body(f"The SPARQL query does not parse: {exc}", "SPARQL_PARSE_FAILED"), 400)
        graph = holder.current.graph
        try:
            result = await asyncio.wait_for(asyncio.to_thread(lambda: graph.query(prepared)),
                                            timeout=limits.sparql_timeout_seconds)
        except TimeoutError:
            return JSONResponse(error_body(
                f"The SPARQL query ran longer than {limits.sparql_timeout_seconds:g} s and was abandoned; "
                f"narrow it (add patterns or a LIMIT).", "QUERY_TIMEOUT"), 503)
        if result.type in ("SELECT", "ASK"):
            return Response(result.serialize(format="json"), media_type="application/sparql-results+json")
        return Response(result.serialize(format="turtle"), media_type="text/turtle")

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/ontology", ontology),
        Route("/sparql", sparql, methods=["GET", "POST"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
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

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.holder = holder
    app.state.watcher = watcher
    app.state.graphql = graphql
    return BodyLimit(app, limits.max_body_bytes)  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _prepare(text: str):
    return prepareQuery(text)


def _is_update(text: str) -> bool:
    try:
        parseUpdate(text)
    except Exception:
        return False
    return True


__all__ = ["KnowledgeHolder", "create_app"]
