"""Error codes every layer shares; GraphQL re-exports them as one enum."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    # The caller may not do this at all (marketplace/domain/access.py); answered like an access rule.
    FORBIDDEN = "FORBIDDEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"

    # Shared input rules (domain/validation.py, geo.py, hours.py, money.py)
    OUT_OF_RANGE = "OUT_OF_RANGE"
    IN_THE_PAST = "IN_THE_PAST"
    WINDOW_ORDER = "WINDOW_ORDER"
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INVALID_POLYGON = "INVALID_POLYGON"
    INVALID_OPENING_HOURS = "INVALID_OPENING_HOURS"
    INVALID_TIME_ZONE = "INVALID_TIME_ZONE"
    INVALID_COUNTRY = "INVALID_COUNTRY"
    INVALID_POSTAL_CODE = "INVALID_POSTAL_CODE"
    HOUSE_NUMBER_REQUIRED = "HOUSE_NUMBER_REQUIRED"
    OUTSIDE_SERVICE_AREA = "OUTSIDE_SERVICE_AREA"
    DUPLICATE_NAME = "DUPLICATE_NAME"

    # Areas, places, organisation users and vehicles (registry)
    AREA_IN_USE = "AREA_IN_USE"
    INVALID_COMPARTMENTS = "INVALID_COMPARTMENTS"
    ARCHIVED = "ARCHIVED"
    EMISSIONS_INCONSISTENT = "EMISSIONS_INCONSISTENT"

    # Couriers: verification and insurance
    VERIFICATION_PENDING = "VERIFICATION_PENDING"
    VERIFICATION_NOT_PENDING = "VERIFICATION_NOT_PENDING"
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"
    DOCUMENTS_INSUFFICIENT = "DOCUMENTS_INSUFFICIENT"
    POLICY_NOT_PENDING = "POLICY_NOT_PENDING"
    DUPLICATE_POLICY = "DUPLICATE_POLICY"
    NOT_VERIFIED = "NOT_VERIFIED"

    # Vehicles, trips and commutes
    VEHICLE_RETIRED = "VEHICLE_RETIRED"
    VEHICLE_IN_USE = "VEHICLE_IN_USE"
    CAPACITY_EXCEEDS_VEHICLE = "CAPACITY_EXCEEDS_VEHICLE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    TRIP_NOT_OPEN = "TRIP_NOT_OPEN"

    # Quotes and jobs
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    QUOTE_ALREADY_BOOKED = "QUOTE_ALREADY_BOOKED"
    WINDOW_CLOSED = "WINDOW_CLOSED"
    TOO_HEAVY = "TOO_HEAVY"
    TOO_LARGE = "TOO_LARGE"
    VALUE_TOO_HIGH = "VALUE_TOO_HIGH"
    LOCATION_CLOSED = "LOCATION_CLOSED"
    LOCKER_UNAVAILABLE = "LOCKER_UNAVAILABLE"
    TOO_MANY_ROWS = "TOO_MANY_ROWS"
    DUPLICATE_REFERENCE = "DUPLICATE_REFERENCE"
    LOCATION_ARCHIVED = "LOCATION_ARCHIVED"
    LOCATION_IN_USE = "LOCATION_IN_USE"

    # Offers and delivery
    OFFER_EXPIRED = "OFFER_EXPIRED"
    OFFER_NOT_OPEN = "OFFER_NOT_OPEN"
    LOCKER_FULL = "LOCKER_FULL"
    WRONG_LABEL_CODE = "WRONG_LABEL_CODE"
    WRONG_PIN = "WRONG_PIN"
    PIN_LOCKED = "PIN_LOCKED"
    WRONG_PICKUP_CODE = "WRONG_PICKUP_CODE"
    ID_CHECK_REQUIRED = "ID_CHECK_REQUIRED"
    ID_CHECK_FAILED = "ID_CHECK_FAILED"
    PHOTO_REQUIRED = "PHOTO_REQUIRED"
    INVALID_PHOTO = "INVALID_PHOTO"
    PHOTO_TOO_LARGE = "PHOTO_TOO_LARGE"
    WRONG_FAILURE_ACTION = "WRONG_FAILURE_ACTION"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    # live tracking
    NO_ACTIVE_DELIVERY = "NO_ACTIVE_DELIVERY"

    # Finance: the ledger
    LEDGER_KEY_CONFLICT = "LEDGER_KEY_CONFLICT"
    ALREADY_CORRECTED = "ALREADY_CORRECTED"

    # Webhooks
    INSECURE_URL = "INSECURE_URL"
    ADDRESS_NOT_ALLOWED = "ADDRESS_NOT_ALLOWED"
    DELIVERY_PENDING = "DELIVERY_PENDING"
    # Payments (Stripe)
    CARD_DECLINED = "CARD_DECLINED"
    PAYMENT_METHOD_REQUIRED = "PAYMENT_METHOD_REQUIRED"
    PAYMENT_UNAVAILABLE = "PAYMENT_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class FieldError:
    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """An expected failure: the caller gets it back as data, and nothing is written."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        if not self.errors:
            raise ValueError("DomainError needs at least one error")
        super().__init__("; ".join(e.message for e in self.errors))

    @classmethod
    def single(cls, code: ErrorCode, message: str, field: str | None = None) -> DomainError:
        return cls([FieldError(code, message, field)])
