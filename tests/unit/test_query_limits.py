"""Depth and cost of GraphQL operations, measured on parsed documents.

The rule (schema/limits.py): a field costs 1 plus page_size x (cost of its children); the page size is the
`first`/`last` argument (a literal or a variable's value), DEFAULT_PAGE_SIZE when that argument is not a
positive int, and 1 for fields without one. Fragments and inline fragments add their fields at the depth
where they are spread; introspection fields (names starting with `__`) are free and add no depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from hypothesis import given
from hypothesis import strategies as st

from schema.limits import measure
from schema.types import DEFAULT_PAGE_SIZE


def measure_document(source: str, variables: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """(depth, cost) of the first operation in the document."""
    document = parse(source)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return measure(operations[0], fragments, variables or {})


def test_single_scalar_field_has_depth_one_and_cost_one() -> None:
    assert measure_document("{ me }") == (1, 1)


def test_sibling_fields_add_their_costs() -> None:
    assert measure_document("{ a b c }") == (1, 3)


def test_nested_fields_count_depth_and_cost_per_level() -> None:
    # c = 1; b = 1 + 1*1 = 2; a = 1 + 1*2 = 3
    assert measure_document("{ a { b { c } } }") == (3, 3)


def test_depth_is_the_deepest_branch() -> None:
    # x: 1 + (y=1 + z=(1 + w=1)) = 1 + 3 = 4; v = 1
    assert measure_document("{ x { y z { w } } v }") == (3, 5)


def test_named_fragment_counts_its_fields_at_the_spread_depth() -> None:
    source = """
        query { me { ...Who } }
        fragment Who on User { id email organization { name } }
    """
    # fragment = id 1 + email 1 + organization (1 + 1) = 4; me = 1 + 4 = 5
    assert measure_document(source) == (3, 5)


def test_inline_fragment_counts_its_fields_at_the_same_depth() -> None:
    # node = 1 + (id 1 + name 1) = 3; the inline fragment adds no level of its own
    assert measure_document("{ node { ... on User { id name } } }") == (2, 3)


def test_fragment_spread_twice_counts_twice() -> None:
    source = """
        { a { ...F } b { ...F } }
        fragment F on T { x y }
    """
    # a = 1 + 2, b = 1 + 2
    assert measure_document(source) == (2, 6)


def test_nested_fragments_are_followed() -> None:
    source = """
        { a { ...F } }
        fragment F on T { x ...G }
        fragment G on T { y { z } }
    """
    # G = y(1 + z 1) = 2; F = x 1 + G 2 = 3; a = 1 + 3 = 4; depth a/y/z = 3
    assert measure_document(source) == (3, 4)


def test_unknown_fragment_spread_costs_nothing() -> None:
    assert measure_document("{ a { ...Missing } }") == (1, 1)


def test_self_referencing_fragment_terminates() -> None:
    source = """
        { a { ...F } }
        fragment F on T { x { ...F } }
    """
    # F is expanded once: a = 1 + x(1 + 0) = 2
    assert measure_document(source) == (2, 2)


def test_first_argument_multiplies_the_children_cost() -> None:
    # edges: 1 + node(1 + id 1 + name 1) = 4; items = 1 + 50 * 4 = 201
    assert measure_document("{ items(first: 50) { edges { node { id name } } } }") == (4, 201)


def test_last_argument_multiplies_the_children_cost() -> None:
    assert measure_document("{ items(last: 7) { id name } }") == (2, 1 + 7 * 2)


def test_page_size_does_not_multiply_the_field_itself() -> None:
    assert measure_document("{ items(first: 50) }") == (1, 1)


def test_nested_pages_multiply() -> None:
    # inner = 1 + 10 * 1 = 11; outer = 1 + 5 * 11 = 56
    assert measure_document("{ outer(first: 5) { inner(first: 10) { id } } }") == (3, 56)


def test_variable_first_uses_the_variable_value() -> None:
    source = "query Items($n: Int) { items(first: $n) { id } }"

    assert measure_document(source, {"n": 37}) == (2, 1 + 37 * 1)


@pytest.mark.parametrize("variables", [{}, {"n": None}, {"n": 0}, {"n": -3}, {"n": "50"}])
def test_variable_first_that_is_not_a_positive_int_uses_the_default_page_size(variables: dict[str, Any]) -> None:
    source = "query Items($n: Int) { items(first: $n) { id } }"

    assert measure_document(source, variables) == (2, 1 + DEFAULT_PAGE_SIZE)


@pytest.mark.parametrize("literal", ["0", "-1", "null"])
def test_literal_first_that_is_not_a_positive_int_uses_the_default_page_size(literal: str) -> None:
    assert measure_document(f"{{ items(first: {literal}) {{ id }} }}") == (2, 1 + DEFAULT_PAGE_SIZE)


def test_other_arguments_do_not_change_the_page_size() -> None:
    assert measure_document('{ items(after: "abc", status: OPEN) { id name } }') == (2, 3)


def test_variable_default_value_is_used_as_the_page_size() -> None:
    source = "query Items($n: Int = 100) { items(first: $n) { id } }"

    assert measure_document(source) == (2, 1 + 100)


def test_typename_is_not_counted() -> None:
    assert measure_document("{ __typename me { __typename id } }") == (2, 2)


def test_schema_introspection_is_not_counted() -> None:
    assert measure_document("{ __schema { types { name fields { name } } } }") == (0, 0)


def test_introspection_next_to_real_fields_counts_only_the_real_fields() -> None:
    source = '{ __type(name: "User") { name } items(first: 3) { id } }'

    assert measure_document(source) == (2, 1 + 3)


def test_operation_measured_is_the_one_passed() -> None:
    document = parse("query A { a } query B { b { c { d } } }")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]

    assert measure(operations[1], {}, {}) == (3, 3)


@given(st.integers(min_value=1, max_value=12))
def test_depth_of_a_chain_equals_its_length(levels: int) -> None:
    source = "{ " + " { ".join(f"f{i}" for i in range(levels)) + " }" * levels

    assert measure_document(source) == (levels, levels)


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=20))
def test_cost_of_a_page_of_leaves_is_one_plus_page_size_times_leaves(page: int, leaves: int) -> None:
    source = f"{{ items(first: {page}) {{ {' '.join(f'f{i}' for i in range(leaves))} }} }}"

    assert measure_document(source) == (2, 1 + page * leaves)
