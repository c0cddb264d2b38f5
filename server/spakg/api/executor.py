"""A compiled executor for cached GraphQL queries: the same answers as graphql-core's, several times faster.

graphql-core spends most of an assessment's time walking the document for every field of every response (building a
path, a resolve info and argument values per field, asking whether each value is awaitable): an assessment with full
proofs is about a thousand fields. Here a validated query document is compiled once into nested closures — the
fields of each selection already collected, literal arguments already coerced, one completion function per field
type — and each request only runs them. graphql-core still parses, validates and coerces variables, and executes
whatever this module does not compile (mutations, subscriptions, introspection, abstract types, @skip/@include on
a variable): `compile_query` returns None for those.

Semantics follow graphql-core 3.2's executor (errors located at the field with its path, null propagated up to the
nearest nullable field, leaf values serialised by their type) and a test holds the two equal on every example query
and on random patients. Difference: a resolver's ``info.path`` is None (spakg's resolvers read ``info.context``
only); paths are still exact in errors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    located_error,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.execute import default_field_resolver
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import DirectiveNode, Visitor, visit
from graphql.pyutils import Undefined, is_iterable
from graphql.type import is_leaf_type
from graphql.utilities import get_operation_ast


class Unsupported(Exception):
    """A document this executor leaves to graphql-core."""


class _Null(Exception):
    """A null in a non-null position: the error is recorded; the nearest nullable ancestor becomes null."""


class _Request:
    __slots__ = ("context", "errors", "infos", "plan", "variables")

    def __init__(self, plan: CompiledQuery, context: Any, variables: dict[str, Any]) -> None:
        self.plan = plan
        self.context = context
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.infos: dict[int, GraphQLResolveInfo] = {}


Completer = Callable[[Any, _Request, tuple], Any]


class CompiledQuery:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.document = document
        self.operation = operation
        self.fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
        root = schema.query_type
        if root is None:
            raise Unsupported("no query type")
        self._root = self._object(root, collect_fields(schema, self.fragments, {}, root, operation.selection_set))

    def execute(self, context: Any, raw_variables: dict[str, Any] | None, root_value: Any = None) -> ExecutionResult:
        coerced = get_variable_values(self.schema, self.operation.variable_definitions or (), raw_variables or {})
        if isinstance(coerced, list):
            return ExecutionResult(data=None, errors=coerced)
        return self.run(context, coerced, root_value)

    def run(self, context: Any, coerced: dict[str, Any], root_value: Any = None) -> ExecutionResult:
        """Execute with variables already coerced (the HTTP layer coerces them first: a failure is a request error)."""
        request = _Request(self, context, coerced)
        try:
            data = self._root(root_value, request, ())
        except _Null:
            data = None
        return ExecutionResult(data=data, errors=request.errors or None)

    # ------------------------------------------------------------------ compilation
    def _object(self, type_: GraphQLObjectType, fields: dict[str, list[FieldNode]]) -> Completer:
        if type_.is_type_of is not None:
            raise Unsupported("is_type_of")
        plan = [(key, self._field(type_, nodes)) for key, nodes in fields.items()]

        def complete(source: Any, request: _Request, path: tuple) -> dict:
            return {key: run(source, request, (path, key)) for key, run in plan}

        return complete

    def _field(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> Completer:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            type_name = parent.name
            return lambda source, request, path: type_name
        if name.startswith("__"):
            raise Unsupported("introspection")
        field_def = parent.fields.get(name)
        if field_def is None:
            raise Unsupported(f"unknown field {name}")
        resolve = field_def.resolve or default_field_resolver
        return_type = field_def.type
        complete = self._completer(return_type, nodes, parent, name)
        nullable = not isinstance(return_type, GraphQLNonNull)
        static_args = None if _uses_variables(node) else get_argument_values(field_def, node, {})
        if _is_graphene_default(resolve) and not static_args:
            return self._attribute(resolve.args[0], resolve.args[1], complete, nullable, nodes)
        key = id(node)
        schema, fragments, operation = self.schema, self.fragments, self.operation

        def run(source: Any, request: _Request, path: tuple) -> Any:
            info = request.infos.get(key)
            if info is None:
                info = request.infos[key] = GraphQLResolveInfo(
                    name, nodes, return_type, parent, None, schema, fragments, None, operation,  # type: ignore[arg-type]
                    request.variables, request.context, _not_awaitable)
            try:
                args = static_args if static_args is not None else get_argument_values(field_def, node, request.variables)
                return complete(resolve(source, info, **args), request, path)
            except Exception as raw:  # _Null too: a null from below, already recorded
                return _failed(raw, request, nodes, path, nullable)

        return run

    @staticmethod
    def _attribute(attname: str, default: Any, complete: Completer, nullable: bool, nodes: list[FieldNode]) -> Completer:
        """A field graphene resolves by key or attribute (most of them): read it here, no resolve info needed."""

        def run(source: Any, request: _Request, path: tuple) -> Any:
            try:
                value = source.get(attname, default) if isinstance(source, dict) else getattr(source, attname, default)
                return complete(value, request, path)
            except Exception as raw:  # _Null too: a null from below, already recorded
                return _failed(raw, request, nodes, path, nullable)

        return run

    def _completer(self, type_: Any, nodes: list[FieldNode], parent: GraphQLObjectType, name: str) -> Completer:
        if isinstance(type_, GraphQLNonNull) and is_leaf_type(type_.of_type):
            serialize = _serializer(type_.of_type)
            message = f"Cannot return null for non-nullable field {parent.name}.{name}."

            def complete_non_null_leaf(value: Any, request: _Request, path: tuple) -> Any:
                if value is None:
                    raise GraphQLError(message)
                serialized = serialize(value)
                if serialized is Undefined or serialized is None:
                    raise TypeError(f"Expected `{serialize}` to return non-nullable value, returned: {serialized!r}")
                return serialized

            return complete_non_null_leaf
        if isinstance(type_, GraphQLNonNull):
            inner = self._completer(type_.of_type, nodes, parent, name)
            message = f"Cannot return null for non-nullable field {parent.name}.{name}."

            def complete_non_null(value: Any, request: _Request, path: tuple) -> Any:
                completed = inner(value, request, path)
                if completed is None:
                    raise GraphQLError(message)
                return completed

            return complete_non_null
        if isinstance(type_, GraphQLList):
            item = self._item(type_.of_type, nodes, parent, name)
            message = f"Expected Iterable, but did not find one for field '{parent.name}.{name}'."

            def complete_list(value: Any, request: _Request, path: tuple) -> Any:
                if value is None:
                    return None
                if type(value) is not list and type(value) is not tuple and not is_iterable(value):
                    raise GraphQLError(message)
                return [item(v, request, (path, i)) for i, v in enumerate(value)]

            return complete_list
        if is_leaf_type(type_):
            serialize = _serializer(type_)

            def complete_leaf(value: Any, request: _Request, path: tuple) -> Any:
                if value is None:
                    return None
                serialized = serialize(value)
                if serialized is Undefined or serialized is None:
                    raise TypeError(f"Expected `{serialize}` to return non-nullable value, returned: {serialized!r}")
                return serialized

            return complete_leaf
        if isinstance(type_, GraphQLObjectType):
            sub = self._object(type_, collect_sub_fields(self.schema, self.fragments, {}, type_, nodes))

            def complete_object(value: Any, request: _Request, path: tuple) -> Any:
                return None if value is None else sub(value, request, path)

            return complete_object
        raise Unsupported(f"type {type_}")

    def _item(self, type_: Any, nodes: list[FieldNode], parent: GraphQLObjectType, name: str) -> Completer:
        """A list item: an error nulls the item when the item type is nullable, else the list."""
        complete = self._completer(type_, nodes, parent, name)
        nullable = not isinstance(type_, GraphQLNonNull)

        def run(value: Any, request: _Request, path: tuple) -> Any:
            try:
                return complete(value, request, path)
            except Exception as raw:  # _Null too: a null from below, already recorded
                return _failed(raw, request, nodes, path, nullable)

        return run


def _serializer(type_: Any) -> Callable[[Any], Any]:
    """A leaf type's ``serialize``; an enum's remembered by value (a status is serialised a hundred times an answer,
    always to one of three names, and graphene's enum serialisation is slow)."""
    serialize = type_.serialize
    if not isinstance(type_, GraphQLEnumType):
        return serialize
    known: dict[tuple[type, Any], Any] = {}  # keyed by type too: 1 and True are one dict key, not one enum value

    def serialize_enum(value: Any) -> Any:
        key = (type(value), value)
        try:
            return known[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value is serialised every time
            return serialize(value)
        serialized = serialize(value)
        if serialized is not Undefined and serialized is not None and len(known) < 1024:
            known[key] = serialized
        return serialized

    return serialize_enum


def compile_query(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> CompiledQuery | None:
    """A compiled plan for this document's query operation, or None when graphql-core should execute it."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY or _has_variable_directives(document):
        return None
    try:
        return CompiledQuery(schema, document, operation)
    except Unsupported:
        return None


def _failed(raw: Exception, request: _Request, nodes: list[FieldNode], path: tuple, nullable: bool) -> None:
    """A field or list item that raised: its error located at its path (a _Null from below was recorded where it
    arose); null here, or at the nearest nullable ancestor (raising _Null) when this position is non-null."""
    if not isinstance(raw, _Null):
        request.errors.append(located_error(raw, nodes, _as_list(path)))
    if nullable:
        return None
    raise _Null from None


def _is_graphene_default(resolve: Any) -> bool:
    """graphene's own key-or-attribute resolver, bound to a name and a default by functools.partial."""
    return isinstance(resolve, partial) and resolve.func is dict_or_attr_resolver and len(resolve.args) == 2 \
        and not resolve.keywords


def _not_awaitable(value: Any) -> bool:
    return False


def _as_list(path: tuple) -> list[str | int]:
    out: list[str | int] = []
    while path:
        path, key = path
        out.append(key)
    out.reverse()
    return out


def _uses_variables(node: FieldNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_args):
            nonlocal found
            found = True
            return self.BREAK

    for argument in node.arguments or ():
        visit(argument, Finder())
    return found


def _has_variable_directives(document: DocumentNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_directive(self, directive: DirectiveNode, *_args):
            nonlocal found
            if any(a.value.kind == "variable" for a in directive.arguments or ()):
                found = True
                return self.BREAK
            return None

    visit(document, Finder())
    return found
