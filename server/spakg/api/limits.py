"""Request limits (configurable, safe defaults) and the validation rule that enforces depth and cost.

graphene ships ``depth_limit_validator``, but its errors carry no ``extensions.code`` and it does not count cost;
one small rule here does both, so every refusal has a code the caller can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)


@dataclass(frozen=True)
class Limits:
    max_depth: int = 15           # an assessment's proof nests about 10 levels deep
    max_cost: int = 2000          # selected fields, counting fragments where they are spread
    max_aliases: int = 50
    max_selections: int = 50      # fields in one selection set: standard validation is quadratic in them
    max_tokens: int = 5000        # parse cost bound
    max_introspection: int = 3    # __schema / __type selections in one operation: each answers the whole schema
    max_validation_seconds: float = 0.5   # CPU time validating one new document (off the event loop)
    max_header_bytes: int = 64 * 1024     # request line and headers together
    max_body_bytes: int = 256 * 1024
    max_findings: int = 200
    sparql_timeout_seconds: float = 5.0
    sparql_workers: int = 2               # processes; a query beyond them waits within its timeout
    sparql_memory_bytes: int = 1 << 30    # address space of a worker
    sparql_max_rows: int = 10_000         # rows (SELECT) or triples (CONSTRUCT, DESCRIBE)
    sparql_max_bytes: int = 8 << 20       # of one answer
    query_cache_bytes: int = 8 << 20      # parsed, validated and compiled documents kept (estimated); a full
                                          # collection walks them all: its pause grows with this figure
    max_page: int = 100           # the largest `first` a connection accepts
    inline_seconds: float = 0.005  # a query that ran longer (or is new) runs in a thread, not on the event loop


def limits_rule(limits: Limits) -> type[ValidationRule]:
    class QueryLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = {f.name.value: f for f in context.document.definitions if hasattr(f, "selection_set")
                              and f.__class__.__name__ == "FragmentDefinitionNode"}

        def enter_selection_set(self, node, *_args):
            if len(node.selections) > limits.max_selections:
                self.report_error(GraphQLError(
                    f"A selection set holds {len(node.selections)} fields, more than the limit of "
                    f"{limits.max_selections}; select each field once.", node, extensions={"code": "QUERY_TOO_COMPLEX"}))

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
            depth, cost, aliases, introspection = self._measure(node.selection_set, 0, set())
            if introspection > limits.max_introspection:
                self.report_error(GraphQLError(
                    f"Query selects __schema or __type {introspection} times, more than the limit of "
                    f"{limits.max_introspection}; one __schema selection gives the whole schema (or fetch "
                    "/graphql/schema.graphql).", node, extensions={"code": "QUERY_TOO_COMPLEX"}))
            elif depth > limits.max_depth:
                self.report_error(GraphQLError(
                    f"Query depth {depth} exceeds the limit of {limits.max_depth}; select fewer nested levels.",
                    node, extensions={"code": "QUERY_TOO_DEEP"}))
            elif cost > limits.max_cost:
                self.report_error(GraphQLError(
                    f"Query selects {cost} fields, more than the limit of {limits.max_cost}; ask for fewer fields "
                    f"or split the query.", node, extensions={"code": "QUERY_TOO_COMPLEX"}))
            elif aliases > limits.max_aliases:
                self.report_error(GraphQLError(
                    f"Query uses {aliases} aliases, more than the limit of {limits.max_aliases}.", node,
                    extensions={"code": "QUERY_TOO_COMPLEX"}))

        def _measure(self, selection_set, depth: int, seen: set[str]) -> tuple[int, int, int, int]:
            """Depth, cost, aliases and __schema/__type selections below ``selection_set``."""
            if selection_set is None:
                return depth, 0, 0, 0
            deepest, cost, aliases, introspection = depth, 0, 0, 0
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    d, c, a, i = self._measure(sel.selection_set, depth + 1, seen)
                    c *= self._page_size(sel)  # a page of n nodes costs n times its selection
                    deepest, cost, aliases = max(deepest, d), cost + 1 + c, aliases + a + (sel.alias is not None)
                    introspection += i + (sel.name.value in ("__schema", "__type"))
                elif isinstance(sel, InlineFragmentNode):
                    d, c, a, i = self._measure(sel.selection_set, depth, seen)
                    deepest, cost, aliases, introspection = max(deepest, d), cost + c, aliases + a, introspection + i
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:  # unknown or cyclic: standard validation reports it
                        continue
                    d, c, a, i = self._measure(fragment.selection_set, depth, seen | {name})
                    deepest, cost, aliases, introspection = max(deepest, d), cost + c, aliases + a, introspection + i
                if cost > limits.max_cost * 4:  # stop walking a runaway document early
                    break
            return deepest, cost, aliases, introspection

        def _page_size(self, field: FieldNode) -> int:
            for arg in field.arguments or ():
                if arg.name.value == "first":
                    value = arg.value
                    if isinstance(value, IntValueNode):
                        return max(1, int(value.value))
                    if isinstance(value, VariableNode):
                        # Documents are validated once and cached, before variables are known: cost the largest page.
                        return limits.max_page
            return 1

    return QueryLimits
