"""Depth and cost limits, checked after validation and before any resolver runs.

Cost counts every field once and multiplies a connection's children by the page size asked for
(`first`, or the default), so one request cannot ask for a hundred pages of a hundred nested lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from schema.types import DEFAULT_PAGE_SIZE

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
ONE_MUTATION_PER_REQUEST = "ONE_MUTATION_PER_REQUEST"


class _Measure:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]) -> None:
        self._fragments = fragments
        self._variables = variables

    def _page_size(self, field: FieldNode) -> int:
        for arg in field.arguments or ():
            if arg.name.value in ("first", "last"):
                value: Any = None
                if isinstance(arg.value, IntValueNode):
                    value = int(arg.value.value)
                elif isinstance(arg.value, VariableNode):
                    value = self._variables.get(arg.value.name.value)
                return value if isinstance(value, int) and value > 0 else DEFAULT_PAGE_SIZE
        # A connection asked for without `first` still returns a default page.
        if field.selection_set is not None and any(
            isinstance(s, FieldNode) and s.name.value == "edges" for s in field.selection_set.selections
        ):
            return DEFAULT_PAGE_SIZE
        return 1

    def selection(self, selection_set: SelectionSetNode | None, depth: int, seen: frozenset[str]) -> tuple[int, int]:
        """Returns (depth, cost) of a selection set."""
        if selection_set is None:
            return depth, 0
        max_depth, cost = depth, 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                if node.name.value.startswith("__"):
                    continue
                child_depth, child_cost = self.selection(node.selection_set, depth + 1, seen)
                max_depth = max(max_depth, child_depth)
                cost += 1 + self._page_size(node) * child_cost
            elif isinstance(node, InlineFragmentNode):
                d, c = self.selection(node.selection_set, depth, seen)
                max_depth, cost = max(max_depth, d), cost + c
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in seen:
                    continue
                d, c = self.selection(fragment.selection_set, depth, seen | {name})
                max_depth, cost = max(max_depth, d), cost + c
        return max_depth, cost


def measure(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]
) -> tuple[int, int]:
    """Variables the client left out take their defaults from the operation, as execution will."""
    effective = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    effective.update(variables)
    return _Measure(fragments, effective).selection(operation.selection_set, 0, frozenset())


def _root_fields(operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]) -> int:
    count = 0
    pending = list(operation.selection_set.selections)
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode):
            count += 0 if node.name.value.startswith("__") else 1
        elif isinstance(node, InlineFragmentNode):
            pending.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
            pending.extend(fragments[node.name.value].selection_set.selections)
    return count


class QueryLimits(SchemaExtension):
    def __init__(self, *, max_depth: int, max_cost: int) -> None:
        self.max_depth = max_depth
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        yield
        ctx = self.execution_context
        if ctx.pre_execution_errors or ctx.graphql_document is None:
            return
        fragments = {d.name.value: d for d in ctx.graphql_document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in ctx.graphql_document.definitions if isinstance(d, OperationDefinitionNode)]
        if ctx.operation_name is not None:
            operations = [o for o in operations if o.name is not None and o.name.value == ctx.operation_name]
        for operation in operations[:1]:
            if operation.operation is OperationType.MUTATION and _root_fields(operation, fragments) > 1:
                # Batched mutations would multiply per-call limits (sign-up hashing, rate limits).
                raise GraphQLError("send one mutation per request", extensions={"code": ONE_MUTATION_PER_REQUEST})
            depth, cost = measure(operation, fragments, ctx.variables or {})
            if depth > self.max_depth:
                raise GraphQLError(
                    f"query depth {depth} exceeds the maximum of {self.max_depth}",
                    extensions={"code": QUERY_TOO_DEEP, "depth": depth, "maxDepth": self.max_depth},
                )
            if cost > self.max_cost:
                raise GraphQLError(
                    f"query cost {cost} exceeds the maximum of {self.max_cost}",
                    extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "maxCost": self.max_cost},
                )
