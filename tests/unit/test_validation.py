"""The input rules every part shares: text, windows, numbers, currencies, countries, postal codes, zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.domain import validation
from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.places import (
    Address,
    Compartments,
    CompartmentSize,
    fits,
    parse_address,
    parse_compartments,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def codes(problems: list[FieldError]) -> list[tuple[ErrorCode, str | None]]:
    return [(p.code, p.field) for p in problems]


# --- text ------------------------------------------------------------------------------------


def test_text_collapses_whitespace_and_requires_something() -> None:
    problems: list[FieldError] = []
    assert validation.text("  Flagship \t store\n ", "name", problems) == "Flagship store"
    assert problems == []
    assert validation.text("   ", "name", problems) == ""
    assert validation.text(None, "other", problems) == ""
    assert codes(problems) == [(ErrorCode.REQUIRED, "name"), (ErrorCode.REQUIRED, "other")]


def test_text_is_bounded_after_collapsing() -> None:
    problems: list[FieldError] = []
    validation.text("a" * 200, "name", problems)
    validation.text("a  " * 100, "padded", problems)  # 199 characters once collapsed
    assert problems == []
    validation.text("a" * 201, "name", problems, max_length=200)
    validation.text("abcdef", "short", problems, max_length=5)
    assert codes(problems) == [(ErrorCode.TOO_LONG, "name"), (ErrorCode.TOO_LONG, "short")]


@pytest.mark.parametrize("bad", ["nul\x00byte", "bell\x07", "lone \ud800 surrogate", "del\x7f"])
def test_text_refuses_characters_the_database_cannot_store(bad: str) -> None:
    problems: list[FieldError] = []
    validation.text(bad, "name", problems)
    assert validation.optional_text(bad, "note", problems) is not None
    assert codes(problems) == [(ErrorCode.INVALID, "name"), (ErrorCode.INVALID, "note")]


def test_optional_text_keeps_lines_and_treats_blank_as_absent() -> None:
    problems: list[FieldError] = []
    assert validation.optional_text("  ring  twice \n  leave at door ", "note", problems) == "ring twice\nleave at door"
    assert validation.optional_text(" \n\t ", "note", problems) is None
    assert validation.optional_text(None, "note", problems) is None
    assert problems == []
    validation.optional_text("x" * 1001, "note", problems, max_length=1000)
    assert codes(problems) == [(ErrorCode.TOO_LONG, "note")]


# --- times and numbers -----------------------------------------------------------------------


def test_windows_must_be_aware_ordered_and_not_over() -> None:
    problems: list[FieldError] = []
    validation.window(NOW, NOW + timedelta(hours=1), "ok", problems, now=NOW)
    validation.window(NOW - timedelta(hours=1), NOW + timedelta(seconds=1), "running", problems, now=NOW)
    assert problems == []
    validation.window(NOW, NOW, "empty", problems)
    validation.window(NOW, NOW - timedelta(hours=1), "reversed", problems)
    validation.window(NOW - timedelta(hours=2), NOW, "over", problems, now=NOW)
    validation.window(datetime(2026, 11, 24, 9), NOW, "naive", problems)
    assert codes(problems) == [
        (ErrorCode.WINDOW_ORDER, "empty"),
        (ErrorCode.WINDOW_ORDER, "reversed"),
        (ErrorCode.IN_THE_PAST, "over"),
        (ErrorCode.INVALID, "naive.start"),
    ]


def test_positive_and_non_negative_integers_are_bounded() -> None:
    problems: list[FieldError] = []
    validation.positive_int(1, "a", problems, maximum=10)
    validation.positive_int(10, "b", problems, maximum=10)
    validation.non_negative_int(0, "c", problems, maximum=10)
    assert problems == []
    validation.positive_int(0, "d", problems, maximum=10)
    validation.positive_int(11, "e", problems, maximum=10, unit=" g")
    validation.non_negative_int(-1, "f", problems, maximum=10)
    validation.non_negative_int(11, "g", problems, maximum=10)
    assert codes(problems) == [(ErrorCode.OUT_OF_RANGE, f) for f in "defg"]
    assert problems[1].message == "must be at most 10 g"


# --- currencies, countries, time zones -------------------------------------------------------


def test_currencies_come_from_the_supported_list() -> None:
    problems: list[FieldError] = []
    assert validation.currency(" eur ", "currency", problems) == "EUR"
    assert problems == []
    validation.currency("USD", "a", problems)
    validation.currency("EURO", "b", problems)
    assert codes(problems) == [(ErrorCode.UNSUPPORTED_CURRENCY, "a"), (ErrorCode.UNSUPPORTED_CURRENCY, "b")]


def test_served_countries_are_exactly_those_with_a_postal_code_format() -> None:
    assert set(validation.POSTAL_CODE_FORMATS) == validation.SUPPORTED_COUNTRIES
    problems: list[FieldError] = []
    assert validation.country("nl", "c", problems) == "NL"
    validation.country("US", "us", problems)
    validation.country("NLD", "nld", problems)
    assert codes(problems) == [(ErrorCode.INVALID_COUNTRY, "us"), (ErrorCode.INVALID_COUNTRY, "nld")]


def test_issuing_countries_may_be_any_two_letter_code() -> None:
    problems: list[FieldError] = []
    assert validation.issuing_country("us", "c", problems) == "US"
    validation.issuing_country("U1", "bad", problems)
    assert codes(problems) == [(ErrorCode.INVALID_COUNTRY, "bad")]


@pytest.mark.parametrize("name", ["Europe/Amsterdam", "Europe/London", "UTC", " Europe/Warsaw "])
def test_iana_time_zones_are_accepted(name: str) -> None:
    problems: list[FieldError] = []
    assert validation.time_zone(name, "tz", problems) == name.strip()
    assert problems == []


@pytest.mark.parametrize("name", ["", "Europe", "Mars/Olympus", "CET+1", "../../etc/passwd", "localtime", "a\x00b"])
def test_anything_else_is_not_a_time_zone_and_never_raises(name: str) -> None:
    problems: list[FieldError] = []
    validation.time_zone(name, "timeZone", problems)
    assert codes(problems) == [(ErrorCode.INVALID_TIME_ZONE, "timeZone")]


# --- postal codes ----------------------------------------------------------------------------

VALID_POSTAL_CODES = [
    ("NL", "1012 LG", "1012 LG"),
    ("NL", "1012lg", "1012 LG"),
    ("NL", " 9999  zz ", "9999 ZZ"),
    ("BE", "1000", "1000"),
    ("DE", "01067", "01067"),
    ("FR", "75001", "75001"),
    ("ES", "28013", "28013"),
    ("ES", "52001", "52001"),
    ("IT", "00184", "00184"),
    ("AT", "1010", "1010"),
    ("CH", "8001", "8001"),
    ("DK", "1050", "1050"),
    ("DK", "0900", "0900"),
    ("SE", "114 55", "114 55"),
    ("SE", "11455", "114 55"),
    ("NO", "0150", "0150"),
    ("PL", "00-950", "00-950"),
    ("CZ", "110 00", "110 00"),
    ("CZ", "11000", "110 00"),
    ("IE", "D02 X285", "D02 X285"),
    ("IE", "d02x285", "D02 X285"),
    ("IE", "D6W 1234", "D6W 1234"),
    ("IE", "A65F4E2", "A65 F4E2"),
    ("GB", "SW1A 1AA", "SW1A 1AA"),
    ("GB", "sw1a1aa", "SW1A 1AA"),
    ("GB", "M1 1AE", "M1 1AE"),
    ("GB", "B33 8TH", "B33 8TH"),
    ("GB", "EC1A 1BB", "EC1A 1BB"),
]


@pytest.mark.parametrize(("country", "raw", "stored"), VALID_POSTAL_CODES)
def test_postal_codes_of_each_country_are_accepted_in_one_spelling(country: str, raw: str, stored: str) -> None:
    problems: list[FieldError] = []
    assert validation.postal_code(raw, country, "postalCode", problems) == stored
    assert problems == []


INVALID_POSTAL_CODES = [
    ("NL", "0123 AB"),  # no leading zero
    ("NL", "1012 SS"),  # SA, SD and SS are never issued
    ("NL", "1012"),
    ("NL", "1012 L"),
    ("BE", "0999"),
    ("DE", "1234"),
    ("DE", "123456"),
    ("FR", "7500A"),
    ("ES", "53001"),  # provinces run 01 to 52
    ("ES", "00123"),
    ("IT", "0018"),
    ("AT", "0100"),
    ("CH", "80011"),
    ("DK", "0100"),
    ("SE", "011 55"),
    ("NO", "015"),
    ("PL", "00950"),
    ("CZ", "810 00"),
    ("IE", "B02 X285"),  # B is not a routing letter
    ("IE", "D02 X28"),
    ("IE", "D02 O285"),  # O is not in the Eircode alphabet
    ("GB", "SW1A 1AI"),  # inward letters exclude I
    ("GB", "SW1A"),
    ("GB", "1AA SW1"),
    ("NL", ""),
    ("US", "10001"),  # no format: not a country we serve
]


@pytest.mark.parametrize(("country", "raw"), INVALID_POSTAL_CODES)
def test_postal_codes_in_the_wrong_format_are_refused(country: str, raw: str) -> None:
    problems: list[FieldError] = []
    validation.postal_code(raw, country, "address.postalCode", problems)
    assert codes(problems) == [(ErrorCode.INVALID_POSTAL_CODE, "address.postalCode")]


def test_every_served_country_has_a_valid_and_an_invalid_example() -> None:
    assert {c for c, _, _ in VALID_POSTAL_CODES} == validation.SUPPORTED_COUNTRIES
    assert {c for c, _ in INVALID_POSTAL_CODES} >= validation.SUPPORTED_COUNTRIES


# --- addresses and compartments (domain/places.py) -------------------------------------------


def address(**changes: str) -> dict[str, str]:
    base = {"street": "Damrak", "house_number": "1", "postal_code": "1012lg", "city": "Amsterdam", "country_code": "nl"}
    return base | changes


def test_an_address_in_the_area_country_is_cleaned() -> None:
    problems: list[FieldError] = []
    clean = parse_address(**address(street=" Damrak "), area_country="NL", field="address", problems=problems)
    assert problems == []
    assert clean == Address("Damrak", "1", "1012 LG", "Amsterdam", "NL")


def test_every_address_problem_is_reported_at_once() -> None:
    problems: list[FieldError] = []
    parse_address(
        street=" ",
        house_number=" ",
        postal_code="ABC",
        city="",
        country_code="BE",
        area_country="NL",
        field="address",
        problems=problems,
    )
    assert codes(problems) == [
        (ErrorCode.INVALID_COUNTRY, "address.countryCode"),
        (ErrorCode.HOUSE_NUMBER_REQUIRED, "address.houseNumber"),
        (ErrorCode.INVALID_POSTAL_CODE, "address.postalCode"),
        (ErrorCode.REQUIRED, "address.street"),
        (ErrorCode.REQUIRED, "address.city"),
    ]


def test_the_postal_code_follows_the_area_country_not_the_typed_one() -> None:
    problems: list[FieldError] = []
    parse_address(**address(postal_code="1000", country_code="BE"), area_country="NL", field="a", problems=problems)
    assert codes(problems) == [
        (ErrorCode.INVALID_COUNTRY, "a.countryCode"),
        (ErrorCode.INVALID_POSTAL_CODE, "a.postalCode"),
    ]


def test_without_an_area_the_postal_code_is_checked_against_the_given_country() -> None:
    problems: list[FieldError] = []
    parse_address(**address(postal_code="1000", country_code="BE"), area_country=None, field="a", problems=problems)
    assert problems == []
    parse_address(**address(postal_code="nope"), area_country=None, field="a", problems=problems)
    parse_address(**address(country_code="US"), area_country=None, field="b", problems=problems)
    assert codes(problems) == [
        (ErrorCode.INVALID_POSTAL_CODE, "a.postalCode"),
        (ErrorCode.INVALID_COUNTRY, "b.countryCode"),
    ]


def test_house_numbers_are_bounded() -> None:
    problems: list[FieldError] = []
    assert parse_address(**address(house_number="12-3 bis"), area_country="NL", field="a", problems=problems)
    parse_address(**address(house_number="1" * 21), area_country="NL", field="a", problems=problems)
    assert codes(problems) == [(ErrorCode.TOO_LONG, "a.houseNumber")]


def test_compartments_are_kept_in_size_order() -> None:
    problems: list[FieldError] = []
    boxes = parse_compartments([(CompartmentSize.XL, 1), (CompartmentSize.S, 0), (CompartmentSize.M, 4)], "c", problems)
    assert problems == []
    assert boxes.counts == ((CompartmentSize.S, 0), (CompartmentSize.M, 4), (CompartmentSize.XL, 1))
    assert boxes.count_of(CompartmentSize.M) == 4
    assert boxes.count_of(CompartmentSize.L) == 0


def test_compartment_problems_are_named_by_row() -> None:
    problems: list[FieldError] = []
    parse_compartments([(CompartmentSize.S, -1), (CompartmentSize.S, 2), (CompartmentSize.M, 1001)], "c", problems)
    assert codes(problems) == [
        (ErrorCode.OUT_OF_RANGE, "c[0].count"),
        (ErrorCode.INVALID_COMPARTMENTS, "c[1].size"),
        (ErrorCode.OUT_OF_RANGE, "c[2].count"),
    ]


@pytest.mark.parametrize("raw", [[], [(CompartmentSize.S, 0), (CompartmentSize.XL, 0)]])
def test_a_locker_needs_at_least_one_compartment(raw: list[tuple[CompartmentSize, int]]) -> None:
    problems: list[FieldError] = []
    parse_compartments(raw, "compartments", problems)
    assert codes(problems) == [(ErrorCode.INVALID_COMPARTMENTS, "compartments")]


def test_a_parcel_fits_a_compartment_in_any_orientation_within_the_weight_limit() -> None:
    assert fits(CompartmentSize.S, (640, 80, 380))
    assert not fits(CompartmentSize.S, (81, 380, 640))
    assert fits(CompartmentSize.XL, (800, 600, 600))
    only_small = Compartments(((CompartmentSize.S, 3), (CompartmentSize.L, 0)))
    assert only_small.accepts((50, 100, 100), 1_000)
    assert not only_small.accepts((300, 300, 300), 1_000)  # would need the L, which has none
    assert not only_small.accepts((50, 100, 100), 25_001)


@pytest.mark.parametrize("raw", ["\u200b", " \u200b\u2060 ", "\ufeff"])
def test_text_that_shows_nothing_counts_as_empty(raw: str) -> None:
    problems: list[FieldError] = []
    validation.text(raw, "name", problems)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.REQUIRED, "name")]
    assert validation.optional_text(raw, "note", problems) is None


@pytest.mark.parametrize("raw", ["Shop\u202egnp.exe", "Flag\u2066ship\u2069", "a\u200fb"])
def test_text_that_reorders_itself_is_refused(raw: str) -> None:
    problems: list[FieldError] = []
    validation.text(raw, "name", problems)
    validation.optional_text(raw, "note", problems)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.INVALID, "name"), (ErrorCode.INVALID, "note")]


def test_text_keeps_joiners_inside_visible_words() -> None:
    """Zero-width joiners are part of some scripts and emoji; only text made of nothing else is empty."""
    problems: list[FieldError] = []
    assert (
        validation.text("Caf\u00e9 \U0001f468\u200d\U0001f373", "name", problems)
        == "Caf\u00e9 \U0001f468\u200d\U0001f373"
    )
    assert problems == []


def test_a_compartment_list_longer_than_the_sizes_is_refused_at_once() -> None:
    problems: list[FieldError] = []
    parse_compartments([(CompartmentSize.S, 1)] * 100_000, "compartments", problems)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.INVALID_COMPARTMENTS, "compartments")]


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC: converting it alone overflows
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "1969-12-31T23:59:59+00:00",
        "1970-01-01T13:59:59+14:00",  # still 1969 in UTC
        "2200-01-01T00:00:00+00:00",
    ],
)
def test_an_instant_outside_1970_to_2200_is_out_of_range_without_overflowing(raw: str) -> None:
    problems: list[FieldError] = []
    assert not validation.instant(datetime.fromisoformat(raw), "at", problems)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.OUT_OF_RANGE, "at")]


@pytest.mark.parametrize("raw", ["1970-01-01T00:00:00+00:00", "2199-12-31T09:59:59-14:00", "2026-11-24T09:00:00+01:00"])
def test_an_instant_within_the_range_passes(raw: str) -> None:
    problems: list[FieldError] = []
    assert validation.instant(datetime.fromisoformat(raw), "at", problems)
    assert problems == []


def test_a_window_reports_an_out_of_range_end_and_a_naive_start_together() -> None:
    problems: list[FieldError] = []
    validation.window(datetime(2026, 1, 1), datetime.fromisoformat("9999-12-31T23:59:59-14:00"), "w", problems)
    assert sorted((p.code, p.field) for p in problems) == [
        (ErrorCode.INVALID, "w.start"),
        (ErrorCode.OUT_OF_RANGE, "w.end"),
    ]
