"""The price formula: worked examples, band and tier edges, currencies, and properties over random jobs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.domain.geo import Point, haversine_m
from marketplace.domain.pricing import (
    PRICE_LEVEL_PERCENT,
    Price,
    PricePart,
    PricePartKind,
    local_minor,
    price_delivery,
    road_distance_m,
    size_band,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Box:
    weight_g: int
    volume_cm3: int
    declared_value_minor: int


SHOEBOX = Box(weight_g=1_000, volume_cm3=6_000, declared_value_minor=15_000)


def quote(
    *,
    distance_m: int = 6_200,
    parcels: tuple[Box, ...] = (SHOEBOX,),
    opens_in: timedelta = timedelta(hours=8),
    width: timedelta = timedelta(hours=2),
    currency: str = "EUR",
) -> Price:
    return price_delivery(
        currency=currency,
        distance_m=distance_m,
        parcels=parcels,
        deliver_from=NOW + opens_in,
        deliver_until=NOW + opens_in + width,
        now=NOW,
    )


def amounts(price: Price) -> dict[PricePartKind, int]:
    return {p.kind: p.amount_minor for p in price.parts}


def test_worked_example_from_the_docstring() -> None:
    price = quote()
    # base 3.90; 7 started km x 0.85; one S parcel 0.50; window closes in 10 h (2.00), 2 h wide (0);
    # 150.00 declared is 50.00 above the free 100.00: one started 100.00 at 0.75.
    assert amounts(price) == {
        PricePartKind.BASE: 390,
        PricePartKind.DISTANCE: 595,
        PricePartKind.SIZE: 50,
        PricePartKind.URGENCY: 200,
        PricePartKind.COVER: 75,
    }
    assert price.total_minor == 1_310
    assert price.currency == "EUR"


def test_distance_is_charged_per_started_kilometre() -> None:
    assert amounts(quote(distance_m=0))[PricePartKind.DISTANCE] == 0
    assert amounts(quote(distance_m=1))[PricePartKind.DISTANCE] == 85
    assert amounts(quote(distance_m=1_000))[PricePartKind.DISTANCE] == 85
    assert amounts(quote(distance_m=1_001))[PricePartKind.DISTANCE] == 170


def test_road_distance_is_the_great_circle_stretched_by_the_road_factor() -> None:
    dam, zuid = Point(52.3731, 4.8926), Point(52.3389, 4.8722)
    assert road_distance_m(dam, zuid) == pytest.approx(haversine_m(dam, zuid) * 1.3, abs=1)
    assert road_distance_m(dam, dam) == 0


@pytest.mark.parametrize(
    ("weight_g", "volume_cm3", "band"),
    [
        (2_000, 6_000, "S"),
        (2_001, 1, "M"),
        (1, 6_001, "M"),
        (5_000, 30_000, "M"),
        (15_000, 60_000, "L"),
        (15_001, 1, "XL"),
        (80_000, 300_000, "XL"),
        (80_001, 1, "XXL"),
        (1, 300_001, "XXL"),
    ],
)
def test_a_parcel_takes_the_larger_of_its_weight_and_volume_bands(weight_g: int, volume_cm3: int, band: str) -> None:
    assert size_band(weight_g, volume_cm3)[0] == band


def test_size_is_charged_per_parcel() -> None:
    two = (SHOEBOX, Box(weight_g=20_000, volume_cm3=50_000, declared_value_minor=0))
    assert amounts(quote(parcels=two))[PricePartKind.SIZE] == 50 + 900


@pytest.mark.parametrize(
    ("closes_in", "fee"),
    [
        (timedelta(hours=2), 800),
        (timedelta(hours=2, seconds=1), 450),
        (timedelta(hours=4), 450),
        (timedelta(hours=12), 200),
        (timedelta(hours=12, seconds=1), 0),
    ],
)
def test_urgency_rises_as_the_delivery_window_closes_sooner(closes_in: timedelta, fee: int) -> None:
    width = timedelta(hours=2)
    assert amounts(quote(opens_in=closes_in - width, width=width))[PricePartKind.URGENCY] == fee


@pytest.mark.parametrize(
    ("width", "fee"),
    [(timedelta(minutes=59), 300), (timedelta(hours=1), 150), (timedelta(minutes=119), 150), (timedelta(hours=2), 0)],
)
def test_a_narrow_delivery_window_costs_more(width: timedelta, fee: int) -> None:
    assert amounts(quote(opens_in=timedelta(days=1), width=width))[PricePartKind.URGENCY] == fee


@pytest.mark.parametrize(
    ("declared", "fee"), [(0, 0), (10_000, 0), (10_001, 75), (20_000, 75), (20_001, 150), (500_000, 75 * 49)]
)
def test_cover_is_charged_per_started_hundred_above_the_free_threshold(declared: int, fee: int) -> None:
    box = replace(SHOEBOX, declared_value_minor=declared)
    assert amounts(quote(parcels=(box,)))[PricePartKind.COVER] == fee


def test_other_currencies_scale_the_tariff_by_their_price_level() -> None:
    price = quote(currency="SEK")
    assert price.currency == "SEK"
    assert amounts(price)[PricePartKind.BASE] == 4_485
    assert amounts(price)[PricePartKind.DISTANCE] == 7 * 978
    # The SEK threshold is 1150.00: 150.00 SEK declared carries no cover fee.
    assert amounts(price)[PricePartKind.COVER] == 0
    assert local_minor(390, "EUR") == 390
    assert local_minor(85, "GBP") == 77


def test_every_supported_currency_has_a_tariff() -> None:
    from marketplace.domain.validation import SUPPORTED_CURRENCIES

    assert set(PRICE_LEVEL_PERCENT) == set(SUPPORTED_CURRENCIES)


def test_a_currency_without_a_tariff_is_refused_rather_than_priced() -> None:
    with pytest.raises(ValueError, match="no tariff"):
        quote(currency="USD")


def test_a_job_without_parcels_has_no_price() -> None:
    with pytest.raises(ValueError, match="at least one parcel"):
        quote(parcels=())


def test_a_price_whose_parts_do_not_add_up_cannot_exist() -> None:
    with pytest.raises(ValueError, match="sum"):
        Price(total_minor=100, currency="EUR", parts=(PricePart(PricePartKind.BASE, 99, "base"),))


boxes = st.builds(
    Box,
    weight_g=st.integers(1, 1_200_000),
    volume_cm3=st.integers(1, 10_000_000),
    declared_value_minor=st.integers(0, 500_000),
)
jobs = st.fixed_dictionaries(
    {
        "distance_m": st.integers(0, 200_000),
        "parcels": st.lists(boxes, min_size=1, max_size=20).map(tuple),
        "opens_in": st.timedeltas(timedelta(0), timedelta(days=30)),
        "width": st.timedeltas(timedelta(minutes=1), timedelta(days=2)),
        "currency": st.sampled_from(sorted(PRICE_LEVEL_PERCENT)),
    }
)


@given(jobs)
def test_the_total_is_the_sum_of_non_negative_parts_and_never_zero(job: dict[str, Any]) -> None:
    price = quote(**job)
    assert price.total_minor == sum(p.amount_minor for p in price.parts)
    assert all(p.amount_minor >= 0 for p in price.parts)
    assert price.total_minor > 0
    assert [p.kind for p in price.parts] == list(PricePartKind)


@given(jobs, st.integers(0, 100_000))
def test_the_total_never_falls_as_the_distance_grows(job: dict[str, Any], extra_m: int) -> None:
    near = quote(**job)
    far = quote(**{**job, "distance_m": int(job["distance_m"]) + extra_m})
    assert far.total_minor >= near.total_minor


@given(jobs, st.integers(0, 500_000), st.data())
def test_the_total_never_falls_as_a_declared_value_grows(job: dict[str, Any], extra: int, data: st.DataObject) -> None:
    parcels: tuple[Box, ...] = job["parcels"]
    i = data.draw(st.integers(0, len(parcels) - 1))
    richer = list(parcels)
    richer[i] = replace(parcels[i], declared_value_minor=parcels[i].declared_value_minor + extra)
    low = quote(**job)
    high = quote(**{**job, "parcels": tuple(richer)})
    assert high.total_minor >= low.total_minor
