"""The delivery price: a base fee plus distance, size, urgency and declared-value parts.

All amounts are integer minor units of the service area's currency, and the total is by
construction the sum of its parts. The tariff is set in euro cents and carried to the other
currencies by a fixed price level per currency (a pricing decision, not an exchange rate):

    total = base + distance + size + urgency + cover

    base      EUR 3.90 per job: matching, payment and support, whatever the parcel.
    distance  EUR 0.85 per started km of road distance, road distance = haversine x 1.3
              (the matching engine's road factor). A crowd courier is paid for the detour
              they make, which grows with the distance between pickup and drop-off.
    size      one band per parcel, the larger of its weight band and its volume band:
                S    <= 2 kg   and <= 6 L     (a shoebox)               EUR 0.50
                M    <= 5 kg   and <= 30 L    (what a walker carries)   EUR 1.50
                L    <= 15 kg  and <= 60 L    (a bicycle's panniers)    EUR 4.00
                XL   <= 80 kg  and <= 300 L   (a cargo bike)            EUR 9.00
                XXL  anything larger a car or van takes                 EUR 25.00
              Larger bands need rarer vehicles, so fewer trips can take them.
    urgency   how soon the delivery window closes after the quote (lead time):
                <= 2 h EUR 8.00, <= 4 h EUR 4.50, <= 12 h EUR 2.00, later nothing;
              plus how narrow the delivery window is:
                < 1 h EUR 3.00, < 2 h EUR 1.50, wider nothing.
              Short notice and narrow windows leave fewer trips that fit.
    cover     per parcel, 0.75 per started 100.00 of declared value above a free
              threshold of EUR 100.00: the insurance a courier's policy must carry.

Price levels (percent of the euro tariff): EUR 100, CHF 100, GBP 90, DKK 750, SEK 1150,
NOK 1150, PLN 430, CZK 2500; scaled amounts are rounded half up to whole minor units. The
cover rate (0.75 per started 100.00) is a percentage and needs no scaling; its threshold does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from marketplace.domain.geo import ROAD_FACTOR, Point, haversine_m

# Percent of the euro tariff each settlement currency charges (a price level, set by hand).
PRICE_LEVEL_PERCENT: dict[str, int] = {
    "EUR": 100,
    "CHF": 100,
    "GBP": 90,
    "DKK": 750,
    "SEK": 1150,
    "NOK": 1150,
    "PLN": 430,
    "CZK": 2500,
}

BASE_FEE_EUR = 390
PER_KM_EUR = 85

# (band, max weight g, max volume cm3, fee in euro cents); the last band has no upper bound.
SIZE_BANDS: tuple[tuple[str, int, int, int], ...] = (
    ("S", 2_000, 6_000, 50),
    ("M", 5_000, 30_000, 150),
    ("L", 15_000, 60_000, 400),
    ("XL", 80_000, 300_000, 900),
)
XXL_FEE_EUR = 2_500

# (lead time up to, fee in euro cents): the delivery window closes this soon after the quote.
LEAD_TIME_FEES_EUR: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=2), 800),
    (timedelta(hours=4), 450),
    (timedelta(hours=12), 200),
)
# (delivery window narrower than, fee in euro cents).
NARROW_WINDOW_FEES_EUR: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=1), 300),
    (timedelta(hours=2), 150),
)

COVER_FREE_EUR = 10_000
COVER_UNIT_MINOR = 10_000
COVER_FEE_PER_UNIT_MINOR = 75


class PricePartKind(StrEnum):
    BASE = "base"
    DISTANCE = "distance"
    SIZE = "size"
    URGENCY = "urgency"
    COVER = "cover"


@dataclass(frozen=True, slots=True)
class PricePart:
    kind: PricePartKind
    amount_minor: int
    description: str


@dataclass(frozen=True, slots=True)
class Price:
    total_minor: int
    currency: str
    parts: tuple[PricePart, ...]

    def __post_init__(self) -> None:
        if sum(p.amount_minor for p in self.parts) != self.total_minor:
            raise ValueError("a price's parts must sum to its total")


class PricedParcel(Protocol):
    @property
    def weight_g(self) -> int: ...

    @property
    def volume_cm3(self) -> int: ...

    @property
    def declared_value_minor(self) -> int: ...


def road_distance_m(a: Point, b: Point) -> int:
    """What a courier drives or rides: the great circle stretched by the road factor, whole metres."""
    return math.ceil(haversine_m(a, b) * ROAD_FACTOR)


def local_minor(eur_minor: int, currency: str) -> int:
    """An amount of the euro tariff in `currency`, rounded half up to whole minor units."""
    level = PRICE_LEVEL_PERCENT[currency]
    return (eur_minor * level + 50) // 100


def size_band(weight_g: int, volume_cm3: int) -> tuple[str, int]:
    """(band name, fee in euro cents): the first band that takes both weight and volume."""
    for name, max_weight_g, max_volume_cm3, fee in SIZE_BANDS:
        if weight_g <= max_weight_g and volume_cm3 <= max_volume_cm3:
            return name, fee
    return "XXL", XXL_FEE_EUR


def _format(amount_minor: int, currency: str) -> str:
    return f"{currency} {amount_minor // 100}.{amount_minor % 100:02d}"


def price_delivery(
    *,
    currency: str,
    distance_m: int,
    parcels: Sequence[PricedParcel],
    deliver_from: datetime,
    deliver_until: datetime,
    now: datetime,
) -> Price:
    """The price of one job; `currency` must be one of PRICE_LEVEL_PERCENT."""
    if currency not in PRICE_LEVEL_PERCENT:
        raise ValueError(f"no tariff for {currency}")
    if distance_m < 0 or not parcels:
        raise ValueError("a priced job has a distance and at least one parcel")

    base = local_minor(BASE_FEE_EUR, currency)

    started_km = math.ceil(distance_m / 1000)
    per_km = local_minor(PER_KM_EUR, currency)
    distance = started_km * per_km

    bands = [size_band(p.weight_g, p.volume_cm3) for p in parcels]
    size = sum(local_minor(fee, currency) for _, fee in bands)
    band_names = ", ".join(name for name, _ in bands)

    lead_time = deliver_until - now
    lead_fee = next((fee for limit, fee in LEAD_TIME_FEES_EUR if lead_time <= limit), 0)
    width = deliver_until - deliver_from
    narrow_fee = next((fee for limit, fee in NARROW_WINDOW_FEES_EUR if width < limit), 0)
    urgency = local_minor(lead_fee, currency) + local_minor(narrow_fee, currency)

    free = local_minor(COVER_FREE_EUR, currency)
    units = sum(math.ceil(max(0, p.declared_value_minor - free) / COVER_UNIT_MINOR) for p in parcels)
    cover = units * COVER_FEE_PER_UNIT_MINOR

    lead_h = max(0.0, lead_time.total_seconds() / 3600)
    width_min = int(width.total_seconds() // 60)
    parts = (
        PricePart(PricePartKind.BASE, base, "base fee per job"),
        PricePart(
            PricePartKind.DISTANCE,
            distance,
            f"{started_km} started km of road distance at {_format(per_km, currency)}",
        ),
        PricePart(PricePartKind.SIZE, size, f"size bands {band_names}"),
        PricePart(
            PricePartKind.URGENCY,
            urgency,
            f"delivery window closes in {lead_h:.1f} h and is {width_min} min wide",
        ),
        PricePart(
            PricePartKind.COVER,
            cover,
            f"{units} started {_format(COVER_UNIT_MINOR, currency)} of declared value above "
            f"{_format(free, currency)} per parcel",
        ),
    )
    return Price(total_minor=sum(p.amount_minor for p in parts), currency=currency, parts=parts)
