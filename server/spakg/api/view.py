"""graphql-server's ASGI view, extended: a parse/validate cache per query text, the limits rule, and error codes.

Every error leaving the server has ``extensions.code``. Errors of ours (SpakgError) keep their code and message;
anything unexpected becomes INTERNAL_SERVER_ERROR with a generic message (logged here, never sent).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, parse, specified_rules, validate
from graphql.language import DocumentNode
from graphql_server.asgi import GraphQL
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.runtime import execute

from ..errors import SpakgError
from .limits import Limits, limits_rule

log = logging.getLogger("spakg.api")


class QueryCache:
    """Parsed and validated documents by query text (LRU): the cost of parsing is paid once per distinct query."""

    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits
        self.rules = (*specified_rules, limits_rule(limits))
        self._entries: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        entry = self._entries.get(query)
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end(query)
            return entry
        self.misses += 1
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as err:
            code = "QUERY_TOO_COMPLEX" if "token limit" in err.message.lower() else "GRAPHQL_PARSE_FAILED"
            entry = (None, [GraphQLError(err.message, extensions={"code": code})])
        else:
            errors = validate(self.schema, document, self.rules)
            entry = (document if not errors else None, errors)
        self._entries[query] = entry
        if len(self._entries) > self.limits.query_cache_size:
            self._entries.popitem(last=False)
        return entry


class SpakgGraphQL(GraphQL):
    def __init__(self, schema: GraphQLSchema, context: Callable[[], dict[str, Any]], limits: Limits) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self._context = context
        self.cache = QueryCache(schema, limits)

    async def get_context(self, request, response) -> dict[str, Any]:
        return {**self._context(), "request": request, "response": response}

    async def execute_operation(self, request_adapter, request_data, context, root_value, allowed_operation_types):
        query = request_data.query
        if not isinstance(query, str) or not query.strip():
            raise GraphQLValidationError([GraphQLError("No GraphQL query found in the request; send {\"query\": \"...\"}.",
                                                       extensions={"code": "BAD_REQUEST"})])
        document, errors = self.cache.get(query)
        if errors:
            raise GraphQLValidationError(errors)
        return await execute(
            schema=self.schema, query=document, root_value=root_value, variable_values=request_data.variables,
            context_value=context, operation_name=request_data.operation_name,
            allowed_operation_types=allowed_operation_types, validate_document=False,
        )

    async def process_result(self, request, result: ExecutionResult, strict: bool = False) -> dict:
        data: dict[str, Any] = {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e) for e in result.errors]
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
        log.exception("internal error while resolving %s", error.path, exc_info=original)
        out["message"] = "Internal error; the server logged it. The request may be retried."
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
    out["extensions"] = extensions
    return out


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list) or value is None
