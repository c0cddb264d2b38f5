"""/graphql: GraphQL over HTTP (the GraphQL-over-HTTP draft spec), with a parse/validate cache bounded by bytes, the
limits rule, and error codes.

Every answer is JSON with ``extensions.code`` on each error. A *request error* (a body that is not a GraphQL
request, a document that does not parse or validate, variables that do not coerce, no such operation) has no
``data`` entry; with ``Accept: application/graphql-response+json`` it is HTTP 400, with ``application/json`` HTTP 400
for a malformed request and 200 for a document or variables that fail (the spec's compatibility rule). ``Accept``
is negotiated with its q-values; neither JSON type accepted is 406.

No client document is parsed, validated, compiled or executed by graphql-core on the event loop: a new document goes
to a small thread pool with a token limit and a CPU-time budget for validation; a cached one is run by the compiled
executor. Logs carry the request id, the code and the time taken — never the query, its variables or a patient's
facts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    GraphQLError,
    GraphQLSchema,
    ValidationRule,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import DocumentNode, OperationDefinitionNode, OperationType, Visitor, visit
from graphql.utilities import get_operation_ast
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import SpakgError
from .executor import CompiledQuery, compile_query
from .limits import Limits, limits_rule
from .middleware import log_internal
from .negotiate import accepted, choose, quality

log = logging.getLogger("spakg.api")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
INTERNAL_MESSAGE = "Internal error; the server logged it under this request id. The request may be retried."
# JSON's \uD800-\uDFFF escapes: a lone one decodes to a string no UTF-8 encoder accepts
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Heap bytes a cached document keeps per token of its text (AST, locations, tokens, validation, the compiled plan),
# measured on the example queries (tests/test_server.py holds the estimate above the real figure).
BYTES_PER_TOKEN = 1400


class Refused(Exception):
    """A request refused before execution: an HTTP status, a code and what to fix."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


class _OverBudget(Exception):
    """Validation ran past its CPU-time budget."""


def _budget_rule(seconds: float) -> type[ValidationRule]:
    class Budget(ValidationRule):
        def __init__(self, context) -> None:
            super().__init__(context)
            self.deadline = time.thread_time() + seconds
            self.visited = 0

        def enter(self, *_args):
            self.visited += 1
            if not self.visited % 64 and time.thread_time() > self.deadline:
                raise _OverBudget

    return Budget


@dataclass
class _Entry:
    document: DocumentNode | None
    errors: list[GraphQLError]
    weight: int                                   # estimated bytes held
    plans: dict[str | None, CompiledQuery | None] = field(default_factory=dict)  # by operation name; None: graphql-core
    quick: set[str | None] = field(default_factory=set)  # operations whose last run took under limits.inline_seconds


class QueryCache:
    """Parsed and validated documents by query text (LRU), bounded by the bytes they hold: the cost of parsing is paid
    once per distinct query, and many distinct queries cannot grow the server past ``limits.query_cache_bytes``."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, introspection: bool = True) -> None:
        self.schema = schema
        self.limits = limits
        # The limits rule runs alone first: a document over the limits is refused before the standard rules (some
        # quadratic in the fields of a selection set) spend time on it.
        budget = _budget_rule(limits.max_validation_seconds)
        self.first = (limits_rule(limits), budget)
        self.rules = (*specified_rules, *(() if introspection else (NoSchemaIntrospectionCustomRule,)), budget)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # misses are validated in a worker thread
        self.hits = self.misses = 0
        self.bytes = 0

    def cached(self, query: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(query)
            if entry is not None:
                self.hits += 1
                self._entries.move_to_end(query)
            return entry

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        entry = self.entry(query)
        return entry.document, entry.errors

    def entry(self, query: str) -> _Entry:
        entry = self.cached(query)
        if entry is not None:
            return entry
        entry = self._parse_and_validate(query)
        with self._lock:
            self.misses += 1
            if query not in self._entries:
                self._entries[query] = entry
                self.bytes += entry.weight
            while self.bytes > self.limits.query_cache_bytes and len(self._entries) > 1:
                _, old = self._entries.popitem(last=False)
                self.bytes -= old.weight
        return entry

    def compile(self, entry: _Entry, operation_name: str | None) -> CompiledQuery | None:
        assert entry.document is not None
        plan = compile_query(self.schema, entry.document, operation_name)
        with self._lock:
            entry.plans[operation_name] = plan
        return plan

    def _parse_and_validate(self, query: str) -> _Entry:
        small = len(query) + 512
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as err:
            code = "QUERY_TOO_COMPLEX" if "token limit" in err.message.lower() else "GRAPHQL_PARSE_FAILED"
            return _Entry(None, [GraphQLError(err.message, extensions={"code": code})], small)
        try:
            errors = validate(self.schema, document, self.first) or validate(self.schema, document, self.rules)
        except _OverBudget:
            return _Entry(None, [GraphQLError(
                f"The document took more than {self.limits.max_validation_seconds:g} s to validate; send a smaller "
                "one.", extensions={"code": "QUERY_TOO_COMPLEX"})], small)
        if errors:
            return _Entry(None, [_validation_error(e) for e in errors], small)
        weight = _tokens(document) * BYTES_PER_TOKEN
        visit(document, _DropTokens())
        return _Entry(document, [], weight)


def _validation_error(error: GraphQLError) -> GraphQLError:
    """A validation error as sent: its code, its message and places, never an exception of the parser behind it (a
    JSONString literal that is not JSON is the caller's mistake, not an internal error)."""
    code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
    return GraphQLError(error.message, error.nodes, extensions={**(error.extensions or {}), "code": code})


class _DropTokens(Visitor):
    """Each node keeps its offsets and source (all an error's location needs), not the lexer's tokens: a doubly linked
    list of every token, a cycle the collector would have to find when the document leaves the cache."""

    def enter(self, node, *_args):
        if node.loc is not None:
            node.loc.start_token = node.loc.end_token = None  # type: ignore[assignment]


def _tokens(document: DocumentNode) -> int:
    token, count = document.loc.start_token if document.loc else None, 0
    while token is not None:
        token, count = token.next, count + 1
    return count


class SpakgGraphQL:
    def __init__(self, schema: GraphQLSchema, context: Callable[[], dict[str, Any]], limits: Limits,
                 introspection: bool = True, graphiql: bool = True) -> None:
        self.schema = schema
        self._context = context
        self.graphiql = graphiql
        self.cache = QueryCache(schema, limits, introspection)
        # graphql-core's own work (parse, validate, compile, execute what is not compiled) runs here, never on the
        # event loop; two threads, so one slow document does not queue every new one behind it.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="spakg-graphql")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        started = time.perf_counter()
        code = "INTERNAL_SERVER_ERROR"  # until an answer is made: anything raised goes to the Guard, the one place
        try:
            request = Request(scope, receive)
            try:
                response, code = await self._answer(request, request_id)
            except Refused as exc:
                code = exc.code
                strict = choose(request.headers.get("accept"), [GRAPHQL_RESPONSE, JSON], JSON) == GRAPHQL_RESPONSE
                response = _json({"errors": [_coded(str(exc), exc.code, request_id)]}, exc.status,
                                 GRAPHQL_RESPONSE if strict else JSON, exc.headers)
            await response(scope, receive, send)
        finally:
            log.info("request %s graphql %s %.1f ms", request_id, code, (time.perf_counter() - started) * 1000)

    async def _answer(self, request: Request, request_id: str | None) -> tuple[Response, str]:
        accept = request.headers.get("accept")
        if request.method == "GET" and self.graphiql and _wants_html(accept):
            from ..web.pages import graphiql_html

            return HTMLResponse(graphiql_html()), "OK"
        media = choose(accept, [GRAPHQL_RESPONSE, JSON], JSON)
        if media is None:
            raise Refused(406, "NOT_ACCEPTABLE", "This endpoint answers application/graphql-response+json or "
                                                 "application/json; accept one of them.")
        query, variables, operation_name = await self._params(request)
        entry = self.cache.cached(query) or await self._off_loop(self.cache.entry, query)
        if entry.errors:
            return self._request_errors(entry.errors, media, request_id)
        assert entry.document is not None
        operation = _operation(entry.document, operation_name)
        if request.method == "GET" and operation.operation != OperationType.QUERY:
            raise Refused(405, "METHOD_NOT_ALLOWED", f"A {operation.operation.value} is sent by POST, not GET.",
                          {"allow": "POST"})
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return self._request_errors([_coercion_error(e) for e in coerced], media, request_id)
        plan = entry.plans[operation_name] if operation_name in entry.plans else \
            await self._off_loop(self.cache.compile, entry, operation_name)
        context = {**self._context(), "request": request}
        if plan is not None and operation_name in entry.quick:  # known to be quick: on the loop, no thread hop
            started = time.perf_counter()
            result = plan.run(context, coerced)
            if time.perf_counter() - started > self.cache.limits.inline_seconds:
                entry.quick.discard(operation_name)
        elif plan is not None:  # new, or slow last time (sixteen aliased assessments): in a thread
            result, took = await self._off_loop(_timed, plan.run, context, coerced)
            if took <= self.cache.limits.inline_seconds:
                entry.quick.add(operation_name)
        else:  # introspection, @skip/@include on a variable, ...: graphql-core's executor, in a thread
            result = await self._off_loop(lambda: execute(self.schema, entry.document, variable_values=variables,
                                                          context_value=context, operation_name=operation_name))
        body: dict[str, Any] = {"data": result.data}
        code = "OK"
        if result.errors:
            body["errors"] = [format_error(e, request_id) for e in result.errors]
            code = body["errors"][0]["extensions"]["code"]
        return _json(body, 200, media), code

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _request_errors(self, errors: list[GraphQLError], media: str, request_id: str | None) -> tuple[Response, str]:
        body = {"errors": [format_error(e, request_id) for e in errors]}
        return _json(body, 400 if media == GRAPHQL_RESPONSE else 200, media), body["errors"][0]["extensions"]["code"]

    async def _params(self, request: Request) -> tuple[str, dict | None, str | None]:
        """query, variables and operationName of a GET (query string) or POST (JSON body), checked."""
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for name in ("variables", "extensions"):
                if params.get(name):
                    params[name] = _decode_json(params[name].encode("utf-8"), name)
            suspect = True  # a URL-encoded JSON escape: the query string is short, look every time
        else:
            content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise Refused(415, "UNSUPPORTED_MEDIA_TYPE",
                              "Send the request as Content-Type: application/json with a body {\"query\": \"...\"}.")
            raw = await request.body()
            if not raw.strip():
                raise Refused(400, "BAD_REQUEST", "The request has no body; send {\"query\": \"...\"}.")
            params = _decode_json(raw, "body")
            suspect = _SURROGATE_ESCAPE.search(raw) is not None
            if isinstance(params, list):
                raise Refused(400, "BATCH_NOT_SUPPORTED", "Send one GraphQL request per HTTP request: a JSON object "
                                                          "{\"query\": ..., \"variables\": ...}, not a list.")
            if not isinstance(params, dict):
                raise Refused(400, "BAD_REQUEST", "The body must be a JSON object {\"query\": ..., \"variables\": ...}.")
        if suspect and _has_lone_surrogate(params):
            raise Refused(400, "BAD_REQUEST", "The request holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape "
                                              "without its pair); send valid Unicode.")
        query, variables = params.get("query"), params.get("variables")
        operation_name, extensions = params.get("operationName"), params.get("extensions")
        if query is None or (isinstance(query, str) and not query.strip()):
            raise Refused(400, "BAD_REQUEST", "No GraphQL query found in the request; send {\"query\": \"...\"}.")
        if not isinstance(query, str):
            raise Refused(400, "BAD_REQUEST", "'query' must be a string holding a GraphQL document.")
        if variables is not None and not isinstance(variables, dict):
            raise Refused(400, "BAD_REQUEST", "'variables' must be a JSON object (or null).")
        if operation_name is not None and not isinstance(operation_name, str):
            raise Refused(400, "BAD_REQUEST", "'operationName' must be a string or null.")
        if extensions is not None and not isinstance(extensions, dict):
            raise Refused(400, "BAD_REQUEST", "'extensions' must be a JSON object (or null).")
        return query, variables, operation_name


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.thread_time()  # CPU time of this thread: a thread waiting for the GIL is not slow
    return fn(*args), time.thread_time() - started


def _wants_html(accept: str | None) -> bool:
    """A browser asking for the page: text/html named, and liked at least as much as JSON."""
    ranges = accepted(accept)
    html_q, specificity = quality("text/html", ranges)
    return specificity == 2 and html_q > 0 and html_q >= max(quality(JSON, ranges)[0],
                                                            quality(GRAPHQL_RESPONSE, ranges)[0])


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operation = get_operation_ast(document, operation_name)
    if operation is not None:
        return operation
    names = [d.name.value for d in document.definitions if isinstance(d, OperationDefinitionNode) and d.name]
    if operation_name is None:
        raise Refused(400, "BAD_REQUEST", "The document holds several operations; say which to run in "
                                          f"'operationName' (one of {', '.join(names) or 'its named operations'}).")
    raise Refused(400, "BAD_REQUEST", f"No operation named {operation_name[:60]!r} in the document; 'operationName' "
                                      f"must be one of: {', '.join(names) or '(none: the document names none)'}.")


def _decode_json(data: bytes, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "BAD_REQUEST", f"The request {what} is not valid UTF-8.") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise Refused(400, "BAD_REQUEST", f"The JSON {what} is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise Refused(400, "BAD_REQUEST", f"The {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                                          f"{exc.colno}); inside a JSON string, write a newline as \\n.") from None
    except ValueError:  # an integer of thousands of digits
        raise Refused(400, "BAD_REQUEST", f"The JSON {what} holds a number too long to read.") from None


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _coercion_error(error: GraphQLError) -> GraphQLError:
    """A variable that does not coerce to its type: the caller's input, coded apart from a document that does not
    validate (a SpakgError raised while coercing keeps its own code)."""
    if isinstance(error.original_error, SpakgError):
        return error
    return GraphQLError(error.message, error.nodes, extensions={"code": "BAD_USER_INPUT"})


def _coded(message: str, code: str, request_id: str | None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    return {"message": message, "extensions": extensions}


def _json(body: dict, status: int, media: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)


def format_error(error: GraphQLError, request_id: str | None = None) -> dict:
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = error.path
    if isinstance(original, SpakgError):
        extensions = {"code": original.code, **{k: v for k, v in original.details.items() if _jsonable(v)}}
    elif original is not None and not isinstance(original, GraphQLError):
        log_internal(request_id, original)
        out["message"] = INTERNAL_MESSAGE
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
    out["extensions"] = extensions
    return out


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list) or value is None

