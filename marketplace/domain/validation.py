"""Input rules every part of the marketplace shares: text bounds, time windows, currencies, countries.

Checks return a list of FieldErrors rather than raising, so one request reports all its problems
at once; callers raise `DomainError(problems)` when the list is not empty.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marketplace.domain.errors import ErrorCode, FieldError

# Currencies the platform settles in: all have two decimal places, and Stripe pays out in each.
SUPPORTED_CURRENCIES = frozenset({"EUR", "GBP", "CHF", "DKK", "SEK", "NOK", "PLN", "CZK"})

# The most a single parcel may declare (minor units): beyond it no courier policy on the market covers it.
MAX_DECLARED_VALUE_MINOR = 500_000

# Postal-code formats for the countries we can serve; an area's country must be one of these.
POSTAL_CODE_FORMATS: dict[str, re.Pattern[str]] = {
    "NL": re.compile(r"^[1-9][0-9]{3} ?[A-Z]{2}$"),
    "BE": re.compile(r"^[1-9][0-9]{3}$"),
    "DE": re.compile(r"^[0-9]{5}$"),
    "FR": re.compile(r"^[0-9]{5}$"),
    "ES": re.compile(r"^(0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3}$"),
    "IT": re.compile(r"^[0-9]{5}$"),
    "AT": re.compile(r"^[1-9][0-9]{3}$"),
    "CH": re.compile(r"^[1-9][0-9]{3}$"),
    "DK": re.compile(r"^[1-9][0-9]{3}$"),
    "SE": re.compile(r"^[1-9][0-9]{2} ?[0-9]{2}$"),
    "NO": re.compile(r"^[0-9]{4}$"),
    "PL": re.compile(r"^[0-9]{2}-[0-9]{3}$"),
    "CZ": re.compile(r"^[1-7][0-9]{2} ?[0-9]{2}$"),
    "IE": re.compile(r"^[AC-FHKNPRTV-Y][0-9]{2}[0-9W] ?[0-9AC-FHKNPRTV-Y]{4}$"),
    "GB": re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$"),
}

SUPPORTED_COUNTRIES = frozenset(POSTAL_CODE_FORMATS)

SHORT_TEXT = 200
LONG_TEXT = 1000


def text(raw: str | None, field: str, problems: list[FieldError], *, max_length: int = SHORT_TEXT) -> str:
    """Whitespace collapsed, required, bounded; appends a problem and returns '' when it fails."""
    value = " ".join((raw or "").split())
    if not value:
        problems.append(FieldError(ErrorCode.REQUIRED, "must not be empty", field))
    elif len(value) > max_length:
        problems.append(FieldError(ErrorCode.TOO_LONG, f"must be at most {max_length} characters", field))
    return value


def optional_text(
    raw: str | None, field: str, problems: list[FieldError], *, max_length: int = SHORT_TEXT
) -> str | None:
    """Like `text`, but blank means absent. Keeps line breaks: instructions are written as lines."""
    if raw is None or not raw.strip():
        return None
    value = "\n".join(" ".join(line.split()) for line in raw.strip().splitlines())
    if len(value) > max_length:
        problems.append(FieldError(ErrorCode.TOO_LONG, f"must be at most {max_length} characters", field))
    return value


def aware(value: datetime, field: str, problems: list[FieldError]) -> bool:
    if value.tzinfo is None or value.utcoffset() is None:
        problems.append(FieldError(ErrorCode.INVALID, "must carry a time zone (ISO 8601 with offset)", field))
        return False
    return True


def window(
    start: datetime,
    end: datetime,
    field: str,
    problems: list[FieldError],
    *,
    now: datetime | None = None,
) -> None:
    """A window is ordered and, when `now` is given, not already over."""
    if not (aware(start, f"{field}.start", problems) and aware(end, f"{field}.end", problems)):
        return
    if end <= start:
        problems.append(FieldError(ErrorCode.WINDOW_ORDER, "the end must be after the start", field))
    elif now is not None and end <= now:
        problems.append(FieldError(ErrorCode.IN_THE_PAST, "the window is already over", field))


def positive_int(value: int, field: str, problems: list[FieldError], *, maximum: int, unit: str = "") -> None:
    if value <= 0:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be greater than zero", field))
    elif value > maximum:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"must be at most {maximum}{unit}", field))


def currency(code: str, field: str, problems: list[FieldError]) -> str:
    value = code.strip().upper()
    if value not in SUPPORTED_CURRENCIES:
        supported = ", ".join(sorted(SUPPORTED_CURRENCIES))
        problems.append(FieldError(ErrorCode.UNSUPPORTED_CURRENCY, f"currency must be one of {supported}", field))
    return value


def country(code: str, field: str, problems: list[FieldError]) -> str:
    value = code.strip().upper()
    if value not in SUPPORTED_COUNTRIES:
        problems.append(FieldError(ErrorCode.INVALID_COUNTRY, "not a country we serve (ISO 3166 alpha-2)", field))
    return value


def issuing_country(code: str, field: str, problems: list[FieldError]) -> str:
    """Documents come from anywhere: any two-letter ISO 3166 code shape is accepted."""
    value = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        problems.append(FieldError(ErrorCode.INVALID_COUNTRY, "must be an ISO 3166 alpha-2 code", field))
    return value


def postal_code(raw: str, country_code: str, field: str, problems: list[FieldError]) -> str:
    value = " ".join(raw.upper().split())
    pattern = POSTAL_CODE_FORMATS.get(country_code)
    if pattern is None or not pattern.fullmatch(value):
        problems.append(FieldError(ErrorCode.INVALID_POSTAL_CODE, f"not a postal code of {country_code}", field))
    return value


def time_zone(name: str, field: str, problems: list[FieldError]) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldError(ErrorCode.INVALID_TIME_ZONE, "not an IANA time zone name", field))
    return name
