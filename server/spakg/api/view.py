"""graphql-server's ASGI view, extended: a parse/validate cache per query text, the limits rule, and error codes.

Every error leaving the server is JSON with ``extensions.code``: the request itself (body, content type, method) is
read here, not by graphql-server, whose refusals are plain text; errors of ours (SpakgError) keep their code and
message; anything unexpected becomes INTERNAL_SERVER_ERROR with a generic message. Logs carry the request id, the
code and the time taken — never the query, its variables or a patient's facts (graphql-server's own error log,
which prints all three with a traceback, is switched off).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError, GraphQLSchema, parse, specified_rules, validate
from graphql.language import DocumentNode, OperationType
from graphql.pyutils import Undefined
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql_server.asgi import GraphQL
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.http.exceptions import HTTPException
from graphql_server.runtime import execute
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import SpakgError
from .executor import CompiledQuery, compile_query
from .limits import Limits, limits_rule
from .middleware import log_internal

log = logging.getLogger("spakg.api")
# graphql-server logs each error with the query, its variables and a traceback; a filter (not `disabled`, which
# uvicorn's logging set-up turns back on) drops them all.
logging.getLogger("graphql_server.execution").addFilter(lambda record: False)


class Refused(Exception):
    """A request refused before execution: an HTTP status, a code and what to fix."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error(status: int, code: str, message: str, request_id: str | None = None) -> JSONResponse:
    extensions: dict[str, Any] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    return JSONResponse({"data": None, "errors": [{"message": message, "extensions": extensions}]}, status_code=status)


class QueryCache:
    """Parsed and validated documents by query text (LRU): the cost of parsing is paid once per distinct query."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, introspection: bool = True) -> None:
        self.schema = schema
        self.limits = limits
        # The limits rule runs alone first: a document over the limits is refused before the standard rules (some
        # quadratic in the fields of a selection set) spend time on it.
        self.first = (limits_rule(limits),)
        self.rules = (*specified_rules, *(() if introspection else (NoSchemaIntrospectionCustomRule,)))
        self._entries: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = OrderedDict()
        self._lock = threading.Lock()  # misses are validated in a worker thread
        self.hits = self.misses = 0
        self.plans: dict[tuple[str, str | None], CompiledQuery | None] = {}  # compiled queries, None: graphql-core's

    def compile(self, key: tuple[str, str | None], document: DocumentNode) -> CompiledQuery | None:
        plan = compile_query(self.schema, document, key[1])
        with self._lock:
            if len(self.plans) >= self.limits.query_cache_size:
                self.plans.clear()
            self.plans[key] = plan
        return plan

    def cached(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]] | None:
        with self._lock:
            entry = self._entries.get(query)
            if entry is not None:
                self.hits += 1
                self._entries.move_to_end(query)
            return entry

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        entry = self.cached(query)
        if entry is not None:
            return entry
        entry = self._parse_and_validate(query)
        with self._lock:
            self.misses += 1
            self._entries[query] = entry
            if len(self._entries) > self.limits.query_cache_size:
                self._entries.popitem(last=False)
        return entry

    def _parse_and_validate(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as err:
            code = "QUERY_TOO_COMPLEX" if "token limit" in err.message.lower() else "GRAPHQL_PARSE_FAILED"
            return None, [GraphQLError(err.message, extensions={"code": code})]
        errors = validate(self.schema, document, self.first) or validate(self.schema, document, self.rules)
        return (document if not errors else None, errors)


class SpakgGraphQL(GraphQL):
    def __init__(self, schema: GraphQLSchema, context: Callable[[], dict[str, Any]], limits: Limits,
                 introspection: bool = True, graphiql: bool = True) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None, allow_queries_via_get=True)
        self._context = context
        self.cache = QueryCache(schema, limits, introspection)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        started = time.perf_counter()
        code = "OK"
        if scope["type"] != "http":  # no subscriptions: nothing here streams
            response: Response = _error(404, "NOT_FOUND", "This endpoint speaks GraphQL over HTTP only.")
        else:
            try:
                response = await self.run(Request(scope, receive))
                code = scope.get("state", {}).get("error_code", "OK")
            except Refused as exc:
                code = exc.code
                response = _error(exc.status, exc.code, str(exc), request_id)
            except HTTPException as exc:  # graphql-server's own refusals (a GET mutation, an unknown operation)
                code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "BAD_REQUEST"
                response = _error(exc.status_code, code, exc.reason, request_id)
            except Exception as exc:
                code = "INTERNAL_SERVER_ERROR"
                log_internal(request_id, exc)
                response = _error(500, code, "Internal error; the server logged it under this request id. The request "
                                             "may be retried.", request_id)
        log.info("request %s graphql %s %.1f ms", request_id, code, (time.perf_counter() - started) * 1000)
        await response(scope, receive, send)

    async def parse_http_body(self, request, context):
        """The body as graphql-server would read it, refused with a code when it is not a GraphQL request."""
        if request.method == "POST":
            content_type = (request.content_type or "").split(";")[0].strip().lower()
            if content_type not in ("application/json", "application/graphql-response+json"):
                raise Refused(415, "UNSUPPORTED_MEDIA_TYPE",
                              "Send the request as Content-Type: application/json with a body {\"query\": \"...\"}.")
        data = await super().parse_http_body(request, context)
        if data.operation_name is not None and not isinstance(data.operation_name, str):
            raise Refused(400, "BAD_REQUEST", "'operationName' must be a string or null.")
        return data

    def decode_json(self, data: str | bytes) -> object:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError:
            raise Refused(400, "BAD_REQUEST", "The request body is not valid UTF-8.") from None
        try:
            value = json.loads(text)
        except RecursionError:
            raise Refused(400, "BAD_REQUEST", "The JSON body is nested too deeply.") from None
        except json.JSONDecodeError as exc:
            raise Refused(400, "BAD_REQUEST", f"The body is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                                              f"{exc.colno}); inside a JSON string, write a newline as \\n.") from None
        except ValueError:  # an integer of thousands of digits
            raise Refused(400, "BAD_REQUEST", "The JSON body holds a number too long to read.") from None
        if isinstance(value, list):
            raise Refused(400, "BATCH_NOT_SUPPORTED", "Send one GraphQL request per HTTP request: a JSON object "
                                                      "{\"query\": ..., \"variables\": ...}, not a list.")
        if not isinstance(value, dict):
            raise Refused(400, "BAD_REQUEST", "The body must be a JSON object {\"query\": ..., \"variables\": ...}.")
        return value

    async def render_graphql_ide(self, request, request_data) -> Response:
        """GraphiQL from this package's own files (graphql-server's page loads it from a CDN)."""
        from ..web.pages import graphiql_html

        return HTMLResponse(graphiql_html())

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    def parse_query_params(self, params) -> dict[str, Any]:
        try:
            return super().parse_query_params(params)
        except HTTPException as exc:
            raise Refused(400, "BAD_REQUEST", f"{exc.reason} in the 'variables' or 'extensions' parameter.") from None

    async def get_context(self, request, response) -> dict[str, Any]:
        return {**self._context(), "request": request, "response": response}

    async def execute_operation(self, request_adapter, request_data, context, root_value, allowed_operation_types):
        query = request_data.query
        if not isinstance(query, str) or not query.strip():
            raise GraphQLValidationError([GraphQLError("No GraphQL query found in the request; send {\"query\": \"...\"}.",
                                                       extensions={"code": "BAD_REQUEST"})])
        # a new document is parsed and validated off the event loop: other requests keep being answered meanwhile
        document, errors = self.cache.cached(query) or await asyncio.to_thread(self.cache.get, query)
        if errors:
            raise GraphQLValidationError(errors)
        key = (query, request_data.operation_name)
        plan = self.cache.plans.get(key, Undefined)
        if plan is Undefined:
            plan = await asyncio.to_thread(self.cache.compile, key, document)
        if plan is not None and OperationType.QUERY in allowed_operation_types:
            return plan.execute(context, request_data.variables, root_value)
        return await execute(
            schema=self.schema, query=document, root_value=root_value, variable_values=request_data.variables,
            context_value=context, operation_name=request_data.operation_name,
            allowed_operation_types=allowed_operation_types, validate_document=False,
        )

    async def process_result(self, request, result: ExecutionResult, strict: bool = False) -> dict:
        data: dict[str, Any] = {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e) for e in result.errors]
            request.scope.setdefault("state", {})["error_code"] = data["errors"][0]["extensions"]["code"]
        return data


def format_error(error: GraphQLError) -> dict:
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = error.path
    if isinstance(original, SpakgError):
        extensions = {"code": original.code, **{k: v for k, v in original.details.items() if _jsonable(v)}}
    elif original is not None and not isinstance(original, GraphQLError):
        log_internal(None, original)
        out["message"] = "Internal error; the server logged it. The request may be retried."
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
    out["extensions"] = extensions
    return out


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list) or value is None
