"""Stripe's bracket form encoding, read back into nested params."""

from __future__ import annotations

import pytest

from stripefake.forms import FormError, parse_form


def test_parse_form_nests_brackets_and_numbers_lists() -> None:
    parsed = parse_form("a=1&b[c]=2&b[d][e]=3&expand[0]=x&expand[1]=y&items[0][price]=p1&items[1][price]=p2")
    assert parsed == {
        "a": "1",
        "b": {"c": "2", "d": {"e": "3"}},
        "expand": ["x", "y"],
        "items": [{"price": "p1"}, {"price": "p2"}],
    }


def test_parse_form_reads_empty_brackets_as_appended_list_items() -> None:
    assert parse_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}


def test_parse_form_keeps_empty_values_for_unsetting_metadata() -> None:
    assert parse_form("metadata[k]=&metadata[j]=v") == {"metadata": {"k": "", "j": "v"}}


def test_parse_form_orders_list_items_by_index_not_arrival() -> None:
    assert parse_form("x[1]=b&x[0]=a&x[10]=c") == {"x": ["a", "b", "c"]}


@pytest.mark.parametrize("body", ["a[b=1", "a]=1", "[x]=1", "a[b]c=1", "a=1&a[b]=2"])
def test_parse_form_refuses_malformed_keys(body: str) -> None:
    with pytest.raises(FormError):
        parse_form(body)
