"""The platform's euro-denominated thresholds carried into each settlement currency."""

from __future__ import annotations

from marketplace.domain.jobs import max_declared_value_minor
from marketplace.domain.matching_rules import (
    PAY_PER_DETOUR_KM_MINOR,
    PAY_PER_PARCEL_MINOR,
    VERIFICATION_RULES,
    LocalRules,
)
from marketplace.domain.pricing import PRICE_LEVEL_PERCENT
from marketplace.domain.validation import MAX_DECLARED_VALUE_MINOR, SUPPORTED_CURRENCIES


def test_euro_areas_use_the_rules_as_written() -> None:
    local = LocalRules.of("EUR")
    assert local.verification == VERIFICATION_RULES
    assert (local.pay_per_parcel_minor, local.pay_per_detour_km_minor) == (
        PAY_PER_PARCEL_MINOR,
        PAY_PER_DETOUR_KM_MINOR,
    )
    assert max_declared_value_minor("EUR") == MAX_DECLARED_VALUE_MINOR


def test_a_koruna_area_needs_level_1_from_2500_czk_not_from_100() -> None:
    """100 CZK is about 4 euros: a threshold copied unscaled would demand verification for trifles."""
    local = LocalRules.of("CZK")
    assert local.verification == ((0, 0), (250_000, 1), (1_250_000, 2))
    assert local.pay_per_parcel_minor == 7_500
    assert max_declared_value_minor("CZK") == 12_500_000


def test_every_supported_currency_has_a_price_level_and_keeps_the_levels_in_order() -> None:
    assert set(PRICE_LEVEL_PERCENT) == SUPPORTED_CURRENCIES
    for currency in SUPPORTED_CURRENCIES:
        thresholds = [value for value, _ in LocalRules.of(currency).verification]
        assert thresholds == sorted(thresholds)
        assert len(set(thresholds)) == len(thresholds)
