"""Request checking, quotes, booking and who may see a job: pure rules, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.geo import Point, Polygon
from marketplace.domain.hours import ALWAYS_OPEN, OpeningHours, OpeningInterval
from marketplace.domain.jobs import (
    MAX_DELIVERY_AFTER_PICKUP,
    MAX_WINDOW,
    QUOTE_TTL,
    DeliveryOrder,
    DropoffKind,
    DropoffRequest,
    FailureAction,
    Job,
    JobStatus,
    Lookups,
    ParcelRequest,
    QuoteRequest,
    RecipientRequest,
    batch_duplicates,
    book,
    booking_problems,
    check_request,
    max_declared_value_minor,
    may_read_job,
    may_see_recipient,
    new_quote,
    normalize_phone,
    parcel_volume_cm3,
    view_for,
)
from marketplace.domain.places import (
    Address,
    Compartments,
    CompartmentSize,
    Locker,
    LockerKind,
    PickupLocation,
    PickupLocationKind,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # a Tuesday
ORG = uuid4()
DAM = Point(52.3731, 4.8926)
ZUID = Point(52.3389, 4.8722)
OOST = Point(52.3600, 4.9400)
ROTTERDAM = Point(51.9244, 4.4690)
UTRECHT = Point(52.0907, 5.1214)


def area(name: str, corners: tuple[tuple[float, float], ...], *, currency: str = "EUR") -> ServiceArea:
    return ServiceArea(
        id=uuid4(),
        name=name,
        country_code="NL",
        currency=currency,
        time_zone="Europe/Amsterdam",
        polygon=Polygon(tuple(Point(lat, lng) for lat, lng in corners)),
        active=True,
        fleet_base_minor=650,
        fleet_per_km_minor=60,
        created_at=NOW,
        updated_at=NOW,
    )


AMSTERDAM = area("Amsterdam", ((52.30, 4.75), (52.30, 5.05), (52.45, 5.05), (52.45, 4.75)))
ROTTERDAM_AREA = area("Rotterdam", ((51.85, 4.35), (51.85, 4.60), (51.98, 4.60), (51.98, 4.35)))


def location(**overrides: Any) -> PickupLocation:
    value = PickupLocation(
        id=uuid4(),
        organization_id=ORG,
        kind=PickupLocationKind.STORE,
        name="Store",
        address=Address("Damrak", "1", "1012 LG", "Amsterdam", "NL"),
        point=DAM,
        area_id=AMSTERDAM.id,
        opening_hours=ALWAYS_OPEN,
        created_at=NOW,
    )
    return replace(value, **overrides)


def locker(**overrides: Any) -> Locker:
    value = Locker(
        id=uuid4(),
        kind=LockerKind.LOCKER,
        name="Oost",
        operator="Lockr",
        address=Address("Oosterpark", "10", "1092 AE", "Amsterdam", "NL"),
        point=OOST,
        area_id=AMSTERDAM.id,
        opening_hours=ALWAYS_OPEN,
        compartments=Compartments(((CompartmentSize.M, 3),)),
        active=True,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(value, **overrides)


STORE = location()


def lookups(*extra: PickupLocation | Locker, taken: frozenset[str] = frozenset()) -> Lookups:
    places = [STORE, *extra]
    return Lookups(
        now=NOW,
        pickup_locations={p.id: p for p in places if isinstance(p, PickupLocation)},
        lockers={p.id: p for p in places if isinstance(p, Locker)},
        areas=[AMSTERDAM, ROTTERDAM_AREA],
        taken_references=taken,
    )


def parcel(**overrides: Any) -> ParcelRequest:
    return replace(ParcelRequest(1_500, 300, 200, 100, 4_999, "EUR"), **overrides)


HOME = DropoffRequest(
    street="Beethovenstraat", house_number="12", postal_code="1077jh", city="Amsterdam", country_code="nl", point=ZUID
)


def request(**overrides: Any) -> QuoteRequest:
    value = QuoteRequest(
        pickup_location_id=STORE.id,
        dropoff=HOME,
        pickup_from=NOW + timedelta(hours=2),
        pickup_until=NOW + timedelta(hours=4),
        deliver_from=NOW + timedelta(hours=4),
        deliver_until=NOW + timedelta(hours=10),
        parcels=(parcel(),),
        recipient=RecipientRequest(name="  Ada  de Vries ", phone="0031 (6) 1234-5678"),
    )
    return replace(value, **overrides)


def check(
    req: QuoteRequest, found: Lookups | None = None, prefix: str = ""
) -> tuple[DeliveryOrder | None, set[tuple[str | None, ErrorCode]]]:
    order, problems = check_request(req, found or lookups(), organization_id=ORG, prefix=prefix)
    return order, {(p.field, p.code) for p in problems}


def test_a_valid_request_becomes_a_normalised_order() -> None:
    order, problems = check(request())
    assert problems == set()
    assert order is not None
    assert order.area_id == AMSTERDAM.id
    assert order.currency == "EUR"
    assert order.dropoff.kind is DropoffKind.ADDRESS
    assert order.dropoff.address == Address("Beethovenstraat", "12", "1077 JH", "Amsterdam", "NL")
    assert order.recipient.name == "Ada de Vries"
    assert order.recipient.phone == "+31612345678"
    assert order.pickup_point == DAM


def test_windows_are_kept_in_utc_whatever_offset_they_came_with() -> None:
    amsterdam = timezone(timedelta(hours=1))
    order, _ = check(request(pickup_from=datetime(2026, 11, 24, 11, 0, tzinfo=amsterdam)))
    assert order is not None
    assert order.pickup_window.start_at == NOW + timedelta(hours=2)
    assert order.pickup_window.start_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "normalised", "valid"),
    [
        ("+31 6 1234 5678", "+31612345678", True),
        ("0049-30-123456", "+4930123456", True),
        ("+44 (20) 7946.0958", "+442079460958", True),
        ("06 1234 5678", "0612345678", False),
        ("+123456", "+123456", False),
        ("+1234567890123456", "+1234567890123456", False),
        ("+31 6 CALL ME", "+316CALLME", False),
    ],
)
def test_phone_numbers_are_normalised_to_international_form(raw: str, normalised: str, valid: bool) -> None:
    problems: list[FieldError] = []
    assert normalize_phone(raw, "phone", problems) == normalised
    assert (problems == []) is valid


def test_every_problem_is_reported_with_its_path_under_the_batch_prefix() -> None:
    req = request(
        dropoff=replace(HOME, house_number=None, postal_code="1077", point=Point(91.0, 4.9)),
        parcels=(parcel(weight_g=0), parcel(height_mm=2_000, length_mm=2_000, width_mm=2_900)),
        recipient=RecipientRequest(name="Ada", phone="+31612345678", instructions="x" * 1001),
    )
    _, problems = check(req, prefix="jobs[3].")
    assert problems == {
        ("jobs[3].dropoff.houseNumber", ErrorCode.HOUSE_NUMBER_REQUIRED),
        ("jobs[3].dropoff.postalCode", ErrorCode.INVALID_POSTAL_CODE),
        ("jobs[3].dropoff.point.lat", ErrorCode.OUT_OF_RANGE),
        ("jobs[3].parcels[0].weightG", ErrorCode.OUT_OF_RANGE),
        ("jobs[3].parcels[1]", ErrorCode.TOO_LARGE),
        ("jobs[3].recipient.instructions", ErrorCode.TOO_LONG),
    }


def test_the_job_is_priced_in_the_stores_own_area_which_must_hold_the_dropoff() -> None:
    """Overlapping areas: the store's own area decides, not the oldest area found at its point."""
    older = replace(AMSTERDAM, id=uuid4(), name="Greater Amsterdam", created_at=NOW - timedelta(days=1))
    store = location(area_id=AMSTERDAM.id)
    found = replace(lookups(store), areas=[older, AMSTERDAM])
    order, problems = check(request(pickup_location_id=store.id), found)
    assert problems == set()
    assert order is not None
    assert order.area_id == AMSTERDAM.id

    small = replace(AMSTERDAM, polygon=Polygon((Point(52.36, 4.85), Point(52.36, 4.95), Point(52.40, 4.95))))
    _, problems = check(request(pickup_location_id=store.id), replace(found, areas=[older, small]))
    assert problems == {("dropoff.point", ErrorCode.OUTSIDE_SERVICE_AREA)}


def test_a_request_nobody_could_serve_gets_no_order() -> None:
    order, problems = check(request(dropoff=replace(HOME, point=UTRECHT, postal_code="3511 AB")))
    assert order is None
    assert problems == {("dropoff.point", ErrorCode.OUTSIDE_SERVICE_AREA)}
    order, problems = check(request(dropoff=replace(HOME, point=ROTTERDAM, postal_code="3012 AA")))
    assert order is None
    assert problems == {("dropoff.point", ErrorCode.OUTSIDE_SERVICE_AREA)}


def test_a_pickup_location_whose_area_is_paused_or_archived_or_foreign_is_refused() -> None:
    paused_area = replace(AMSTERDAM, id=uuid4(), name="Amsterdam (old)", active=False)
    paused = location(area_id=paused_area.id)
    archived = location(archived_at=NOW)
    foreign = location(organization_id=uuid4())
    found = replace(lookups(paused, archived, foreign), areas=[AMSTERDAM, paused_area])
    for place, code in (
        (paused, ErrorCode.OUTSIDE_SERVICE_AREA),
        (archived, ErrorCode.LOCATION_ARCHIVED),
        (foreign, ErrorCode.NOT_FOUND),
    ):
        _, problems = check(request(pickup_location_id=place.id), found)
        assert problems == {("pickupLocationId", code)}


def test_windows_must_be_ordered_open_and_let_delivery_follow_pickup() -> None:
    _, problems = check(request(pickup_until=NOW + timedelta(hours=1)))
    assert problems == {("pickupWindow", ErrorCode.WINDOW_ORDER)}
    _, problems = check(request(pickup_from=NOW - timedelta(hours=2), pickup_until=NOW))
    assert problems == {("pickupWindow", ErrorCode.IN_THE_PAST)}
    _, problems = check(request(deliver_from=NOW + timedelta(hours=1), deliver_until=NOW + timedelta(hours=2)))
    assert problems == {("deliveryWindow", ErrorCode.WINDOW_ORDER)}
    _, problems = check(request(pickup_from=datetime(2026, 11, 24, 10, 0)))  # naive on purpose
    assert problems == {("pickupWindow.start", ErrorCode.INVALID)}
    far = NOW + timedelta(days=31)
    _, problems = check(
        request(
            pickup_from=far,
            pickup_until=far + timedelta(hours=1),
            deliver_from=far + timedelta(hours=1),
            deliver_until=far + timedelta(hours=5),
        )
    )
    assert problems == {("pickupWindow", ErrorCode.OUT_OF_RANGE)}


def test_no_window_spans_more_than_three_days_so_a_quote_cannot_hold_a_price_for_years() -> None:
    start = NOW + timedelta(hours=2)
    order, problems = check(
        request(
            pickup_from=start,
            pickup_until=start + MAX_WINDOW,
            deliver_from=start + MAX_WINDOW,
            deliver_until=start + MAX_WINDOW + timedelta(days=1),
        )
    )
    assert problems == set()
    assert order is not None
    _, problems = check(
        request(
            pickup_from=start,
            pickup_until=start + MAX_WINDOW + timedelta(microseconds=1),
            deliver_from=start + MAX_WINDOW,
            deliver_until=start + MAX_WINDOW + timedelta(days=1),
        )
    )
    assert problems == {("pickupWindow", ErrorCode.OUT_OF_RANGE)}
    _, problems = check(request(deliver_until=request().deliver_from + MAX_WINDOW + timedelta(microseconds=1)))
    assert problems == {("deliveryWindow", ErrorCode.OUT_OF_RANGE)}


def test_the_pickup_location_must_be_open_during_the_pickup_window() -> None:
    # 09:00-10:00 Amsterdam time is 08:00-09:00 UTC in November.
    mornings = OpeningHours((OpeningInterval(2, time(9), time(10)),))
    store = location(opening_hours=mornings)
    found = lookups(store)
    _, problems = check(request(pickup_location_id=store.id), found)
    assert problems == {("pickupWindow", ErrorCode.LOCATION_CLOSED)}
    order, _ = check(
        request(
            pickup_location_id=store.id, pickup_from=NOW + timedelta(minutes=30), pickup_until=NOW + timedelta(hours=3)
        ),
        found,
    )
    assert order is not None


def test_declared_values_are_bounded_and_in_the_area_currency() -> None:
    _, problems = check(
        request(parcels=(parcel(declared_value_minor=500_001), parcel(currency="CHF"), parcel(currency="XYZ")))
    )
    assert problems == {
        ("parcels[0].declaredValue.amountMinor", ErrorCode.VALUE_TOO_HIGH),
        ("parcels[1].declaredValue.currency", ErrorCode.CURRENCY_MISMATCH),
        ("parcels[2].declaredValue.currency", ErrorCode.UNSUPPORTED_CURRENCY),
    }


def test_parcels_beyond_the_largest_vehicle_are_too_heavy_or_too_large() -> None:
    _, problems = check(request(parcels=(parcel(weight_g=1_200_001), parcel(width_mm=3_001))))
    assert problems == {("parcels[0].weightG", ErrorCode.TOO_HEAVY), ("parcels[1].widthMm", ErrorCode.TOO_LARGE)}
    _, problems = check(request(parcels=()))
    assert problems == {("parcels", ErrorCode.REQUIRED)}
    _, problems = check(request(parcels=(parcel(),) * 21))
    assert problems == {("parcels", ErrorCode.TOO_MANY_ROWS)}


def test_volume_rounds_up_to_whole_cubic_centimetres() -> None:
    assert parcel_volume_cm3(300, 200, 100) == 6_000
    assert parcel_volume_cm3(1, 1, 1) == 1
    assert parcel_volume_cm3(11, 10, 10) == 2


def test_a_locker_dropoff_must_take_every_parcel() -> None:
    m_only = locker()
    pickup_point = locker(kind=LockerKind.PICKUP_POINT)
    found = lookups(m_only, pickup_point)
    order, problems = check(request(dropoff=DropoffRequest(locker_id=m_only.id)), found)
    assert problems == set()
    assert order is not None
    assert order.dropoff.kind is DropoffKind.LOCKER
    assert order.dropoff.point == OOST
    assert order.dropoff.address == m_only.address

    tall = parcel(height_mm=500)
    _, problems = check(request(dropoff=DropoffRequest(locker_id=m_only.id), parcels=(parcel(), tall)), found)
    assert problems == {("dropoff.lockerId", ErrorCode.LOCKER_UNAVAILABLE)}
    heavy = parcel(weight_g=26_000)
    _, problems = check(request(dropoff=DropoffRequest(locker_id=m_only.id), parcels=(heavy,)), found)
    assert problems == {("dropoff.lockerId", ErrorCode.LOCKER_UNAVAILABLE)}
    # Age-checked parcels may go to a staffed pickup point, never into an unstaffed locker.
    checked = (parcel(adults_only=True),)
    _, problems = check(request(dropoff=DropoffRequest(locker_id=m_only.id), parcels=checked), found)
    assert problems == {("dropoff.lockerId", ErrorCode.LOCKER_UNAVAILABLE)}
    order, _ = check(request(dropoff=DropoffRequest(locker_id=pickup_point.id), parcels=checked), found)
    assert order is not None
    _, problems = check(request(dropoff=DropoffRequest(locker_id=uuid4())), found)
    assert problems == {("dropoff.lockerId", ErrorCode.NOT_FOUND)}


def test_a_dropoff_is_a_locker_or_an_address_never_both_nor_neither() -> None:
    box = locker()
    _, problems = check(request(dropoff=replace(HOME, locker_id=box.id)), lookups(box))
    assert problems == {("dropoff", ErrorCode.INVALID)}
    _, problems = check(request(dropoff=DropoffRequest()))
    assert problems == {("dropoff", ErrorCode.REQUIRED)}


def test_failure_actions_need_what_they_rely_on() -> None:
    box = locker()
    far_box = locker(point=ROTTERDAM)
    found = lookups(box, far_box)
    _, problems = check(request(on_failure=FailureAction.SAFE_PLACE, parcels=(parcel(id_check=True),)))
    assert problems == {
        ("recipient.safePlace", ErrorCode.REQUIRED),
        ("recipient.safePlaceConsent", ErrorCode.REQUIRED),
        ("onFailure", ErrorCode.INVALID),
    }
    consenting = RecipientRequest(name="Ada", phone="+31612345678", safe_place="Shed", safe_place_consent=True)
    order, _ = check(request(on_failure=FailureAction.SAFE_PLACE, recipient=consenting))
    assert order is not None
    assert order.failure_action is FailureAction.SAFE_PLACE

    order, _ = check(request(on_failure=FailureAction.LOCKER, fallback_locker_id=box.id), found)
    assert order is not None
    assert order.fallback_locker_id == box.id
    _, problems = check(request(on_failure=FailureAction.LOCKER, fallback_locker_id=far_box.id), found)
    assert problems == {("fallbackLockerId", ErrorCode.OUTSIDE_SERVICE_AREA)}
    _, problems = check(request(fallback_locker_id=box.id), found)
    assert problems == {("fallbackLockerId", ErrorCode.INVALID)}


def test_references_are_unique_per_organisation_and_within_a_batch() -> None:
    _, problems = check(request(reference=" A-1 "), lookups(taken=frozenset({"A-1"})))
    assert problems == {("reference", ErrorCode.DUPLICATE_REFERENCE)}
    batch = [request(reference="A"), request(reference="B"), request(reference="A"), request(), request()]
    assert [(p.field, p.code) for p in batch_duplicates(batch)] == [
        ("jobs[2].reference", ErrorCode.DUPLICATE_REFERENCE)
    ]


def booked_job() -> Job:
    order, _ = check(request(parcels=(parcel(), parcel(fragile=True))))
    assert order is not None
    quote = new_quote(uuid4(), ORG, order, NOW)
    retailer = Principal(role=Role.RETAILER, user_id=uuid4(), organization_id=ORG)
    return book(quote, uuid4(), [uuid4(), uuid4()], retailer, NOW, pin_key=b"test-pin-key")


def test_a_quote_is_good_until_its_expiry_instant_exclusive() -> None:
    order, _ = check(request())
    assert order is not None
    quote = new_quote(uuid4(), ORG, order, NOW)
    assert quote.expires_at == NOW + QUOTE_TTL == NOW + timedelta(minutes=15)
    assert not quote.expired(quote.expires_at - timedelta(microseconds=1))
    assert quote.expired(quote.expires_at)
    assert quote.price.total_minor > 0


def test_booking_copies_the_quote_into_a_booked_job_with_ordered_parcels() -> None:
    job = booked_job()
    assert job.status is JobStatus.BOOKED
    assert [p.position for p in job.parcels] == [0, 1]
    assert job.parcels[1].spec.fragile
    assert all(p.assigned_courier_id is None for p in job.parcels)


def courier(user_id: UUID | None = None) -> Principal:
    return Principal(role=Role.COURIER, user_id=user_id or uuid4(), organization_id=None)


def test_only_the_organisation_admins_and_an_assigned_courier_read_a_job_and_its_recipient() -> None:
    job = booked_job()
    own = Principal(role=Role.RETAILER, user_id=None, organization_id=ORG, api_key_id=uuid4())
    other = Principal(role=Role.RETAILER, user_id=uuid4(), organization_id=uuid4())
    admin = Principal(role=Role.ADMIN, user_id=uuid4(), organization_id=None)
    finance = Principal(role=Role.FINANCE, user_id=uuid4(), organization_id=None)
    carrier = courier()
    assigned = replace(job, parcels=(replace(job.parcels[0], assigned_courier_id=carrier.user_id), job.parcels[1]))

    for principal in (own, admin):
        assert may_read_job(job, principal)
        assert may_see_recipient(job, principal)
        view = view_for(job, principal)
        assert view is not None
        assert view.recipient == job.recipient
    for principal in (other, finance, carrier):
        assert not may_read_job(job, principal)
        assert not may_see_recipient(job, principal)
        assert view_for(job, principal) is None

    view = view_for(assigned, carrier)
    assert view is not None
    assert view.recipient == job.recipient
    assert view_for(assigned, courier()) is None
    # A retailer user who happens to share the courier's id is still judged as a retailer.
    assert not may_see_recipient(assigned, Principal(role=Role.RETAILER, user_id=carrier.user_id, organization_id=None))


def test_booking_rechecks_what_may_have_changed_since_the_quote() -> None:
    box = locker()
    order, _ = check(
        request(on_failure=FailureAction.LOCKER, fallback_locker_id=box.id, pickup_until=NOW + timedelta(hours=3)),
        lookups(box),
    )
    assert order is not None
    quote = new_quote(uuid4(), ORG, order, NOW)
    live = {box.id: box}
    assert booking_problems(quote, NOW, STORE, live, AMSTERDAM) == []
    closed_at = NOW + timedelta(hours=3)
    assert [p.code for p in booking_problems(quote, closed_at, STORE, live, AMSTERDAM)] == [ErrorCode.WINDOW_CLOSED]
    assert [p.code for p in booking_problems(quote, NOW, replace(STORE, archived_at=NOW), live, AMSTERDAM)] == [
        ErrorCode.LOCATION_ARCHIVED
    ]
    assert [p.code for p in booking_problems(quote, NOW, STORE, {box.id: replace(box, active=False)}, AMSTERDAM)] == [
        ErrorCode.LOCKER_UNAVAILABLE
    ]
    # A store moved since (no job held it in place): the quote priced a pickup that is no longer there.
    assert [p.code for p in booking_problems(quote, NOW, replace(STORE, point=ZUID), live, AMSTERDAM)] == [
        ErrorCode.QUOTE_EXPIRED
    ]
    assert [p.code for p in booking_problems(quote, NOW, STORE, live, replace(AMSTERDAM, active=False))] == [
        ErrorCode.OUTSIDE_SERVICE_AREA
    ]
    shrunk = replace(AMSTERDAM, polygon=Polygon((Point(52.36, 4.85), Point(52.36, 4.95), Point(52.40, 4.95))))
    assert [p.code for p in booking_problems(quote, NOW, STORE, live, shrunk)] == [ErrorCode.OUTSIDE_SERVICE_AREA]
    assert [p.code for p in booking_problems(quote, NOW, None, {}, None)] == [
        ErrorCode.LOCATION_ARCHIVED,
        ErrorCode.OUTSIDE_SERVICE_AREA,
        ErrorCode.LOCKER_UNAVAILABLE,
    ]


def test_a_delivery_window_closes_at_most_three_days_after_the_pickup_window() -> None:
    base = request()
    latest = base.pickup_until + MAX_DELIVERY_AFTER_PICKUP
    order, problems = check(request(deliver_until=latest))
    assert problems == set()
    assert order is not None
    _, problems = check(request(deliver_until=latest + timedelta(microseconds=1)))
    assert problems == {("deliveryWindow", ErrorCode.OUT_OF_RANGE)}


def test_the_declared_value_limit_follows_the_currencys_price_level() -> None:
    czk = max_declared_value_minor("CZK")
    assert czk == 25 * max_declared_value_minor("EUR")
    _, problems = check(request(parcels=(parcel(declared_value_minor=czk, currency="CZK"),)))
    assert ("parcels[0].declaredValue.amountMinor", ErrorCode.VALUE_TOO_HIGH) not in problems
    _, problems = check(request(parcels=(parcel(declared_value_minor=czk + 1, currency="CZK"),)))
    assert ("parcels[0].declaredValue.amountMinor", ErrorCode.VALUE_TOO_HIGH) in problems
