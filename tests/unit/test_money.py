"""Money: integer minor units in one ISO 4217 currency."""

from __future__ import annotations

import dataclasses
from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.domain.money import Money

CURRENCIES = st.sampled_from(["EUR", "USD", "GBP", "JPY", "CHF"])


def test_adding_same_currency_sums_minor_units() -> None:
    assert Money(1250, "EUR") + Money(99, "EUR") == Money(1349, "EUR")


def test_adding_negative_amounts_is_allowed() -> None:
    assert Money(500, "USD") + Money(-700, "USD") == Money(-200, "USD")


def test_adding_leaves_the_operands_unchanged() -> None:
    a, b = Money(1, "EUR"), Money(2, "EUR")

    _ = a + b

    assert (a, b) == (Money(1, "EUR"), Money(2, "EUR"))


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot add USD to EUR"):
        _ = Money(100, "EUR") + Money(100, "USD")


@pytest.mark.parametrize("amount", [1.0, 12.5, "100", None, True, False])
def test_non_integer_amount_is_refused(amount: Any) -> None:
    with pytest.raises(TypeError):
        Money(amount, "EUR")


@pytest.mark.parametrize("code", ["", "EU", "EURO", "eur", "Eur", "E1R", "12 ", "E R"])
def test_bad_currency_code_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, code)


def test_non_ascii_currency_code_is_refused() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, "ÄÖÜ")


def test_money_is_immutable() -> None:
    money = Money(1, "EUR")

    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount_minor = 2  # type: ignore[misc]


def test_equal_money_hashes_equal() -> None:
    assert len({Money(5, "EUR"), Money(5, "EUR"), Money(5, "USD")}) == 2


@given(CURRENCIES, st.lists(st.integers(min_value=-(10**15), max_value=10**15), min_size=1, max_size=30))
def test_sum_of_same_currency_amounts_equals_the_integer_sum(currency: str, amounts: list[int]) -> None:
    total = reduce(lambda acc, m: acc + m, (Money(a, currency) for a in amounts))

    assert total == Money(sum(amounts), currency)


@given(CURRENCIES, CURRENCIES, st.integers(), st.integers())
def test_addition_succeeds_exactly_when_currencies_match(a_cur: str, b_cur: str, a: int, b: int) -> None:
    if a_cur == b_cur:
        assert (Money(a, a_cur) + Money(b, b_cur)).amount_minor == a + b
    else:
        with pytest.raises(ValueError, match="cannot add"):
            _ = Money(a, a_cur) + Money(b, b_cur)
