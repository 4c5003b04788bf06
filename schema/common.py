"""GraphQL shapes shared by every part of the marketplace: money, points, addresses, windows, hours."""

from __future__ import annotations

from datetime import datetime, time

import strawberry
from graphql import GraphQLError

from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours as DomainOpeningHours
from marketplace.domain.money import Money as DomainMoney
from marketplace.domain.paging import PageRequest
from marketplace.domain.places import Address as DomainAddress
from schema.errors import not_found_error
from schema.types import page_request

IDEMPOTENCY_KEY = "Repeat it on retries: the first result comes back and nothing is created twice."


def page_or_error(first: int | None, after: str | None) -> PageRequest:
    """A connection's paging arguments; bad ones are the query's BAD_USER_INPUT, naming `first` or `after`."""
    return page_request(first, after)


@strawberry.type(description="An amount in integer minor units (cents) of an ISO 4217 currency.")
class Money:
    amount_minor: int
    currency: str

    @classmethod
    def from_domain(cls, money: DomainMoney) -> Money:
        return cls(amount_minor=money.amount_minor, currency=money.currency)

    @classmethod
    def of(cls, amount_minor: int, currency: str) -> Money:
        return cls(amount_minor=amount_minor, currency=currency)


@strawberry.input(description="An amount in integer minor units (cents) of an ISO 4217 currency.")
class MoneyInput:
    amount_minor: int
    currency: str


@strawberry.type(description="WGS 84 degrees.")
class GeoPoint:
    lat: float
    lng: float

    @classmethod
    def from_domain(cls, point: Point) -> GeoPoint:
        return cls(lat=point.lat, lng=point.lng)


@strawberry.input(description="WGS 84 degrees: latitude -90..90, longitude -180..180.")
class GeoPointInput:
    lat: float
    lng: float

    def to_domain(self) -> Point:
        return Point(self.lat, self.lng)


@strawberry.type
class Address:
    street: str
    house_number: str
    postal_code: str
    city: str
    country_code: str

    @classmethod
    def from_domain(cls, address: DomainAddress) -> Address:
        return cls(
            street=address.street,
            house_number=address.house_number,
            postal_code=address.postal_code,
            city=address.city,
            country_code=address.country_code,
        )


@strawberry.input(description="A postal address; `countryCode` is ISO 3166 alpha-2 and must be the area's country.")
class AddressInput:
    street: str
    house_number: str
    postal_code: str
    city: str
    country_code: str


@strawberry.input(description="A span of time; both ends ISO 8601 with an offset, `end` after `start`.")
class TimeWindowInput:
    start: datetime
    end: datetime


@strawberry.type
class TimeWindow:
    start: datetime
    end: datetime


@strawberry.type(
    description="Open on ISO `weekday` (1 = Monday) from `opens` to `closes`, local time; 00:00 closes at midnight."
)
class OpeningInterval:
    weekday: int
    opens: time
    closes: time


@strawberry.input
class OpeningIntervalInput:
    weekday: int
    opens: time
    closes: time


def opening_hours(hours: DomainOpeningHours) -> list[OpeningInterval]:
    return [OpeningInterval(weekday=i.weekday, opens=i.opens, closes=i.closes) for i in hours.intervals]


def opening_hours_input(intervals: list[OpeningIntervalInput]) -> list[tuple[int, time, time]]:
    return [(i.weekday, i.opens, i.closes) for i in intervals]


def not_found(what: str) -> GraphQLError:
    """For single-object queries: another tenant's object and a missing one read exactly the same."""
    return not_found_error(f"no such {what}")
