"""The pure rules of verification and insurance: levels as of an instant, history, document and policy checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from marketplace.domain.couriers import (
    MAX_DOCUMENTS,
    DocumentClaim,
    DocumentKind,
    InsurancePolicy,
    LevelChangeCause,
    LevelGrant,
    PolicyStatus,
    check_policy,
    check_verification_request,
    documents_suffice,
    level_at,
    level_history,
    level_valid_until,
    matching_cover,
    standing,
)
from marketplace.domain.errors import ErrorCode
from marketplace.domain.money import Money

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
ADMIN = uuid4()
COURIER = uuid4()


def grant(level: int, granted_at: datetime, valid_until: datetime, **extra: object) -> LevelGrant:
    values: dict[str, object] = {
        "id": uuid4(),
        "courier_id": COURIER,
        "level": level,
        "request_id": uuid4(),
        "granted_at": granted_at,
        "valid_until": valid_until,
        "granted_by": ADMIN,
    }
    values.update(extra)
    return LevelGrant(**values)  # type: ignore[arg-type]


def policy(
    per_parcel: int = 50_000,
    per_trip: int = 200_000,
    *,
    status: PolicyStatus = PolicyStatus.VERIFIED,
    valid_from: datetime = T0,
    valid_until: datetime = T0 + 30 * DAY,
    currency: str = "EUR",
    policy_id: UUID | None = None,
) -> InsurancePolicy:
    return InsurancePolicy(
        id=policy_id or uuid4(),
        courier_id=COURIER,
        insurer="Acme Mutual",
        policy_number="P-1",
        cover_per_parcel=Money(per_parcel, currency),
        cover_per_trip=Money(per_trip, currency),
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        created_at=T0,
    )


def passport(expires_at: datetime = T0 + 365 * DAY, **extra: str) -> DocumentClaim:
    return DocumentClaim(
        kind=DocumentKind(extra.get("kind", DocumentKind.PASSPORT)),
        issuing_country=extra.get("country", "nl"),
        expires_at=expires_at,
        number_last4=extra.get("last4", "ab12"),
    )


def certificate(expires_at: datetime = T0 + 90 * DAY) -> DocumentClaim:
    return DocumentClaim(DocumentKind.BACKGROUND_CHECK, "NL", expires_at, "9Z9Z")


# --- level as of an instant -----------------------------------------------------------------------


def test_a_grant_counts_from_its_approval_until_just_before_its_expiry() -> None:
    grants = [grant(1, T0, T0 + DAY)]
    assert level_at(grants, T0 - US) == 0
    assert level_at(grants, T0) == 1
    assert level_at(grants, T0 + DAY - US) == 1
    assert level_at(grants, T0 + DAY) == 0


def test_a_revoked_grant_stops_counting_at_the_revocation_instant() -> None:
    grants = [grant(2, T0, T0 + 10 * DAY, revoked_at=T0 + DAY, revoked_by=ADMIN, revoke_reason="fraud")]
    assert level_at(grants, T0 + DAY - US) == 2
    assert level_at(grants, T0 + DAY) == 0
    assert level_valid_until(grants, T0) == T0 + DAY


def test_the_highest_counting_grant_sets_the_level_and_its_end() -> None:
    grants = [grant(1, T0, T0 + 100 * DAY), grant(2, T0 + DAY, T0 + 10 * DAY)]
    assert level_at(grants, T0 + 5 * DAY) == 2
    assert level_valid_until(grants, T0 + 5 * DAY) == T0 + 10 * DAY
    assert level_at(grants, T0 + 10 * DAY) == 1
    assert level_valid_until(grants, T0 + 10 * DAY) == T0 + 100 * DAY
    assert level_valid_until(grants, T0 + 100 * DAY) is None


def test_overlapping_grants_of_one_level_last_until_the_later_end() -> None:
    grants = [grant(1, T0, T0 + 10 * DAY), grant(1, T0 + 5 * DAY, T0 + 20 * DAY)]
    assert level_valid_until(grants, T0 + 6 * DAY) == T0 + 20 * DAY
    assert level_valid_until(grants, T0 + DAY) == T0 + 10 * DAY


# --- history --------------------------------------------------------------------------------------


def test_history_shows_a_level_2_lapse_falling_back_to_a_still_valid_level_1() -> None:
    one = grant(1, T0, T0 + 100 * DAY, approval_reason="passport seen")
    two = grant(2, T0 + DAY, T0 + 10 * DAY)
    history = level_history([two, one], T0 + 200 * DAY)
    assert [(h.at, h.from_level, h.to_level, h.cause) for h in history] == [
        (T0, 0, 1, LevelChangeCause.APPROVED),
        (T0 + DAY, 1, 2, LevelChangeCause.APPROVED),
        (T0 + 10 * DAY, 2, 1, LevelChangeCause.LAPSED),
        (T0 + 100 * DAY, 1, 0, LevelChangeCause.LAPSED),
    ]
    assert history[0].actor == ADMIN
    assert history[0].reason == "passport seen"
    assert history[0].request_id == one.request_id
    assert history[2].actor is None
    assert history[2].request_id == two.request_id


def test_history_holds_only_what_happened_by_now_and_a_lapse_appears_at_its_instant() -> None:
    grants = [grant(1, T0, T0 + DAY)]
    assert [h.cause for h in level_history(grants, T0 + DAY - US)] == [LevelChangeCause.APPROVED]
    assert [h.cause for h in level_history(grants, T0 + DAY)] == [LevelChangeCause.APPROVED, LevelChangeCause.LAPSED]
    assert level_history(grants, T0 - US) == ()


def test_a_lapse_that_leaves_the_level_unchanged_is_not_an_entry_but_a_renewal_is() -> None:
    old = grant(1, T0, T0 + 10 * DAY)
    renewal = grant(1, T0 + 5 * DAY, T0 + 50 * DAY)
    history = level_history([old, renewal], T0 + 20 * DAY)
    assert [(h.at, h.from_level, h.to_level, h.cause) for h in history] == [
        (T0, 0, 1, LevelChangeCause.APPROVED),
        (T0 + 5 * DAY, 1, 1, LevelChangeCause.APPROVED),
    ]


def test_history_names_the_admin_and_reason_of_a_revocation() -> None:
    other_admin = uuid4()
    revoked = grant(2, T0, T0 + 10 * DAY, revoked_at=T0 + DAY, revoked_by=other_admin, revoke_reason="forged")
    history = level_history([revoked], T0 + 20 * DAY)
    assert [(h.from_level, h.to_level, h.cause, h.actor, h.reason) for h in history] == [
        (0, 2, LevelChangeCause.APPROVED, ADMIN, None),
        (2, 0, LevelChangeCause.REVOKED, other_admin, "forged"),
    ]


# --- documents ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "kinds", "enough"),
    [
        (1, [DocumentKind.PASSPORT], True),
        (1, [DocumentKind.RESIDENCE_PERMIT], True),
        (1, [DocumentKind.BACKGROUND_CHECK], False),
        (1, [], False),
        (2, [DocumentKind.NATIONAL_ID, DocumentKind.BACKGROUND_CHECK], True),
        (2, [DocumentKind.DRIVING_LICENCE], False),
        (2, [DocumentKind.BACKGROUND_CHECK], False),
        (3, [DocumentKind.PASSPORT, DocumentKind.BACKGROUND_CHECK], False),
    ],
)
def test_documents_suffice_for_a_level(level: int, kinds: list[DocumentKind], enough: bool) -> None:
    assert documents_suffice(level, kinds) is enough


def test_a_request_is_normalised() -> None:
    documents, problems = check_verification_request(1, [passport(country=" de ", last4=" x7k2 ")], T0)
    assert problems == []
    assert [(d.issuing_country, d.number_last4) for d in documents] == [("DE", "X7K2")]


def test_every_problem_of_a_request_is_reported_at_once() -> None:
    claims = [
        passport(expires_at=T0, country="Netherlands", last4="12345"),
        passport(expires_at=datetime(2030, 1, 1), kind=DocumentKind.NATIONAL_ID, last4="ßab"),
    ]
    _, problems = check_verification_request(2, claims, T0)
    assert {(p.code, p.field) for p in problems} == {
        (ErrorCode.INVALID_COUNTRY, "documents[0].issuingCountry"),
        (ErrorCode.INVALID, "documents[0].numberLast4"),
        (ErrorCode.DOCUMENT_EXPIRED, "documents[0].expiresAt"),
        (ErrorCode.INVALID, "documents[1].numberLast4"),
        (ErrorCode.INVALID, "documents[1].expiresAt"),
        (ErrorCode.DOCUMENTS_INSUFFICIENT, "documents"),
    }


def test_a_level_outside_1_and_2_and_too_many_documents_are_refused() -> None:
    claims = [passport(last4=f"{n:04d}") for n in range(MAX_DOCUMENTS + 1)]
    _, problems = check_verification_request(0, claims, T0)
    assert {(p.code, p.field) for p in problems} == {
        (ErrorCode.OUT_OF_RANGE, "level"),
        (ErrorCode.OUT_OF_RANGE, "documents"),
    }


def test_the_same_document_twice_is_refused_and_a_document_may_expire_just_after_now() -> None:
    _, problems = check_verification_request(2, [passport(T0 + US), passport(T0 + US), certificate()], T0)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.INVALID, "documents[1]")]


# --- insurance ------------------------------------------------------------------------------------


def test_a_policy_counts_only_when_verified_and_inside_its_validity() -> None:
    verified = policy(valid_from=T0, valid_until=T0 + DAY)
    assert not verified.counts_at(T0 - US)
    assert verified.counts_at(T0)
    assert verified.counts_at(T0 + DAY - US)
    assert not verified.counts_at(T0 + DAY)
    for status in (PolicyStatus.PENDING, PolicyStatus.REJECTED):
        assert not replace(verified, status=status).counts_at(T0)


def test_matching_cover_prefers_per_parcel_then_per_trip_then_the_later_end() -> None:
    small = policy(10_000, 900_000)
    big = policy(60_000, 100_000)
    assert matching_cover([small, big]) == big
    wide = policy(60_000, 300_000)
    assert matching_cover([big, wide, small]) == wide
    longer = policy(60_000, 300_000, valid_until=T0 + 60 * DAY)
    assert matching_cover([longer, wide]) == longer
    assert matching_cover([wide, longer]) == longer
    assert matching_cover([]) is None


def test_standing_keeps_only_policies_that_count_at_the_instant() -> None:
    counting = policy()
    expired = policy(valid_from=T0 - 30 * DAY, valid_until=T0)
    pending = policy(status=PolicyStatus.PENDING)
    result = standing([grant(1, T0 - DAY, T0 + DAY)], [pending, counting, expired], T0)
    assert (result.level, result.level_valid_until, result.policies) == (1, T0 + DAY, (counting,))
    assert standing([], [], T0).level == 0


def check(**overrides: object) -> set[tuple[ErrorCode, str | None]]:
    values: dict[str, object] = {
        "insurer": "Acme Mutual",
        "policy_number": "p-1",
        "cover_per_parcel": (50_000, "EUR"),
        "cover_per_trip": (200_000, "EUR"),
        "valid_from": T0 - DAY,
        "valid_until": T0 + DAY,
        "now": T0,
    }
    values.update(overrides)
    _, problems = check_policy(**values)  # type: ignore[arg-type]
    return {(p.code, p.field) for p in problems}


def test_valid_terms_are_normalised() -> None:
    terms, problems = check_policy(
        insurer="  Acme   Mutual ",
        policy_number=" ab-12 ",
        cover_per_parcel=(1, "eur"),
        cover_per_trip=(1, "EUR"),
        valid_from=T0 + DAY,
        valid_until=T0 + 2 * DAY,
        now=T0,
    )
    assert problems == []
    assert (terms.insurer, terms.policy_number, terms.currency) == ("Acme Mutual", "AB-12", "EUR")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"cover_per_trip": (200_000, "GBP")}, {(ErrorCode.CURRENCY_MISMATCH, "coverPerTrip.currency")}),
        ({"cover_per_parcel": (50_000, "USD")}, {(ErrorCode.UNSUPPORTED_CURRENCY, "coverPerParcel.currency")}),
        ({"cover_per_parcel": (0, "EUR")}, {(ErrorCode.OUT_OF_RANGE, "coverPerParcel.amountMinor")}),
        ({"cover_per_trip": (49_999, "EUR")}, {(ErrorCode.OUT_OF_RANGE, "coverPerTrip.amountMinor")}),
        ({"valid_until": T0 - DAY}, {(ErrorCode.WINDOW_ORDER, "validUntil")}),
        ({"valid_until": T0}, {(ErrorCode.IN_THE_PAST, "validUntil")}),
        (
            {"insurer": " ", "policy_number": "x" * 101},
            {(ErrorCode.REQUIRED, "insurer"), (ErrorCode.TOO_LONG, "policyNumber")},
        ),
        ({"valid_from": datetime(2026, 1, 1)}, {(ErrorCode.INVALID, "validFrom")}),
    ],
)
def test_policy_terms_are_checked(overrides: dict[str, object], expected: set[tuple[ErrorCode, str]]) -> None:
    assert check(**overrides) == expected


def test_a_policy_may_have_started_in_the_past_and_covers_may_be_equal() -> None:
    assert check(cover_per_trip=(50_000, "EUR"), valid_from=T0 - 300 * DAY) == set()
