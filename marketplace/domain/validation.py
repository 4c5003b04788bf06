"""Input rules every part of the marketplace shares: text bounds, time windows, currencies, countries.

Checks return a list of FieldErrors rather than raising, so one request reports all its problems
at once; callers raise `DomainError(problems)` when the list is not empty.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import available_timezones

from marketplace.domain.errors import ErrorCode, FieldError

# Currencies the platform settles in: all have two decimal places, and Stripe pays out in each.
SUPPORTED_CURRENCIES = frozenset({"EUR", "GBP", "CHF", "DKK", "SEK", "NOK", "PLN", "CZK"})

# The most a single parcel may declare, in euro cents (other currencies scale it by their price level,
# see domain/pricing.py): beyond it no courier policy on the market covers it.
MAX_DECLARED_VALUE_MINOR = 500_000

# Postal-code formats for the countries we can serve; an area's country must be one of these.
POSTAL_CODE_FORMATS: dict[str, re.Pattern[str]] = {
    "NL": re.compile(r"^[1-9][0-9]{3} ?(?!SA|SD|SS)[A-Z]{2}$"),  # SA, SD and SS are never issued
    "BE": re.compile(r"^[1-9][0-9]{3}$"),
    "DE": re.compile(r"^[0-9]{5}$"),
    "FR": re.compile(r"^[0-9]{5}$"),
    "ES": re.compile(r"^(0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3}$"),
    "IT": re.compile(r"^[0-9]{5}$"),
    "AT": re.compile(r"^[1-9][0-9]{3}$"),
    "CH": re.compile(r"^[1-9][0-9]{3}$"),
    "DK": re.compile(r"^(0[89]|[1-9][0-9])[0-9]{2}$"),  # 0800 and 0900 are real (Copenhagen, Taastrup)
    "SE": re.compile(r"^[1-9][0-9]{2} ?[0-9]{2}$"),
    "NO": re.compile(r"^[0-9]{4}$"),
    "PL": re.compile(r"^[0-9]{2}-[0-9]{3}$"),
    "CZ": re.compile(r"^[1-7][0-9]{2} ?[0-9]{2}$"),
    # Eircode: a routing key (letter and two digits, or D6W), then four characters of a reduced alphabet.
    "IE": re.compile(r"^(?:[AC-FHKNPRTV-Y][0-9]{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$"),
    # Outward code, then the inward code: a digit and two letters, never C, I, K, M, O or V.
    "GB": re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2}$"),
}

# Where a country writes its codes with a space, how many characters follow it ("1012 LG", "SW1A 1AA"):
# codes are stored in that one spelling, so equal codes compare equal however they were typed.
_POSTAL_CODE_SPACE_BEFORE_LAST = {"NL": 2, "SE": 2, "CZ": 2, "GB": 3, "IE": 4}

SUPPORTED_COUNTRIES = frozenset(POSTAL_CODE_FORMATS)

SHORT_TEXT = 200
LONG_TEXT = 1000


def unstorable(value: str, allowed: str = "") -> bool:
    """Control characters and lone surrogates: PostgreSQL refuses NUL and UTF-8 cannot encode surrogates."""
    if value.isascii() and value.isprintable():  # the common case (every token), without a look-up per character
        return False
    return any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in value)


# Bidirectional overrides and isolates reorder what a reader sees ("Shop\u202egnp.exe").
_DIRECTION_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _visible(value: str) -> bool:
    """Something a person can read: not only spaces and format characters such as zero-width spaces."""
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in value)


def _deceptive(value: str) -> bool:
    return any(c in _DIRECTION_CONTROLS for c in value)


def text(raw: str | None, field: str, problems: list[FieldError], *, max_length: int = SHORT_TEXT) -> str:
    """Whitespace collapsed, required, bounded; appends a problem and returns '' when it fails.

    Names reach other people (a store's name on a courier's screen), so text that shows nothing
    or reorders itself is refused.
    """
    value = " ".join((raw or "").split())
    if not _visible(value):
        problems.append(FieldError(ErrorCode.REQUIRED, "must not be empty", field))
    elif len(value) > max_length:
        problems.append(FieldError(ErrorCode.TOO_LONG, f"must be at most {max_length} characters", field))
    elif unstorable(value):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain control characters", field))
    elif _deceptive(value):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain text-direction controls", field))
    return value


def optional_text(
    raw: str | None, field: str, problems: list[FieldError], *, max_length: int = SHORT_TEXT
) -> str | None:
    """Like `text`, but blank means absent. Keeps line breaks: instructions are written as lines."""
    if raw is None or not raw.strip():
        return None
    value = "\n".join(" ".join(line.split()) for line in raw.strip().splitlines())
    if not _visible(value):
        return None
    if len(value) > max_length:
        problems.append(FieldError(ErrorCode.TOO_LONG, f"must be at most {max_length} characters", field))
    elif unstorable(value, allowed="\n"):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain control characters", field))
    elif _deceptive(value):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain text-direction controls", field))
    return value


# Every instant a client sends lies in this range: nothing the marketplace plans, insures or filters on is
# earlier or later, and year 1 at +14:00 or 9999 at -14:00 overflow Python and PostgreSQL in arithmetic.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


def aware(value: datetime, field: str, problems: list[FieldError]) -> bool:
    if value.tzinfo is None or value.utcoffset() is None:
        problems.append(FieldError(ErrorCode.INVALID, "must carry a time zone (ISO 8601 with offset)", field))
        return False
    return True


def instant(value: datetime, field: str, problems: list[FieldError]) -> bool:
    """The rule for every instant a client sends: aware, and within EARLIEST_INSTANT..LATEST_INSTANT.

    Checked before any arithmetic on it: the local year is compared first, since converting year 1 at
    +14:00 to UTC already overflows; within those years an offset (under a day) cannot.
    """
    if not aware(value, field, problems):
        return False
    in_years = EARLIEST_INSTANT.year - 1 <= value.year <= LATEST_INSTANT.year
    if not (in_years and EARLIEST_INSTANT <= value < LATEST_INSTANT):
        problems.append(
            FieldError(
                ErrorCode.OUT_OF_RANGE,
                f"must lie between {EARLIEST_INSTANT.year} and {LATEST_INSTANT.year} (UTC)",
                field,
            )
        )
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
    start_ok = instant(start, f"{field}.start", problems)
    if not (instant(end, f"{field}.end", problems) and start_ok):
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


def non_negative_int(value: int, field: str, problems: list[FieldError], *, maximum: int, unit: str = "") -> None:
    """For amounts that may be zero, such as a price part an operator waives."""
    if value < 0:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must not be negative", field))
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
    """Checks the code against the country's format; returns it in the country's one spelling."""
    value = " ".join(raw.upper().split())
    after_space = _POSTAL_CODE_SPACE_BEFORE_LAST.get(country_code)
    if after_space is not None:
        compact = value.replace(" ", "")
        if len(compact) > after_space:
            value = f"{compact[:-after_space]} {compact[-after_space:]}"
    pattern = POSTAL_CODE_FORMATS.get(country_code)
    if pattern is None or not pattern.fullmatch(value):
        problems.append(FieldError(ErrorCode.INVALID_POSTAL_CODE, f"not a postal code of {country_code}", field))
    return value


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """The tz database's names, minus those that mean 'whatever this machine is set to'."""
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def time_zone(name: str, field: str, problems: list[FieldError]) -> str:
    """An IANA name such as Europe/Amsterdam; looked up, never opened as a path ('Europe' is a directory)."""
    value = name.strip()
    if value not in _zone_names():
        problems.append(FieldError(ErrorCode.INVALID_TIME_ZONE, "not an IANA time zone name", field))
    return value
