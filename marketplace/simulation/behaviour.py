"""The simulated city and its people: a pure, seeded behaviour model (no I/O).

Everything random in `crowdship simulate` is drawn here from one `random.Random(seed)`, so a seed
replays the same city, the same bookings and the same decisions. The model, in numbers:

- **City**: a square of about 24 x 24 km around the centre; stores within 4 km of it, open 08:00-20:00
  local every day; lockers (24/7) within 4 km; the fleet's depot at the centre.
- **Couriers** commute: a home within 7 km of the centre, work within 3 km; a detour of up to 4-7 km
  (8-12 km by car); a morning trip
  (leaving 07:30-10:00, 3 h to arrive) and an evening one (leaving 14:00-17:30, 3.5 h). Vehicles:
  bicycle 40 %, car 20 %, public transport 15 %, foot 10 %, e-scooter 10 %, cargo bike 5 %.
  Verification: level 0 20 %, level 1 50 %, level 2 30 %; 85 % hold an insurance policy
  (cover 500.00-1,500.00 per parcel).
- **Jobs** are booked from 06:30 to 16:00; the pickup window opens 45 minutes after the booking (not
  before 08:00) for 3 hours, the delivery window from the pickup's start for 6 hours. Drop-offs within
  5 km of the centre, 8 % to a locker. One parcel of 0.2-8 kg; declared value under 100.00 for 70 %,
  100.00-499.99 for 25 %, 500.00-900.00 for 5 % (levels 1 and 2 needed). On a failed hand-over:
  the fallback locker 50 %, back to the store 40 %, a safe place 10 %.
- **Decisions**: a courier ignores an offer with probability 0.05 (it expires), else accepts with
  probability `clip(0.92 - 0.06 x detour km + 0.04 x (pay - 4.00 EUR), 0.15, 0.98)`, else declines
  (reason by what put them off: detour over 3 km `TOO_FAR`, pay under 4.00 `PAY_TOO_LOW`, else `NO_TIME`).
- **Hand-overs** fail with probability 0.08 (absent 70 %, address not found 20 %, refused 10 %);
  a successful one carries a photo half the time. 5 % of recipients redirect their parcel to the
  nearest locker within an hour of booking; lockers are emptied by recipients 1-4 hours after a deposit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CENTRE = (52.370, 4.895)  # Amsterdam
TIME_ZONE = "Europe/Amsterdam"
KM_LAT = 1 / 111.0
KM_LNG = 1 / (111.0 * math.cos(math.radians(CENTRE[0])))
VEHICLES = (
    ("BICYCLE", 0.40),
    ("CAR", 0.20),
    ("PUBLIC_TRANSPORT", 0.15),
    ("FOOT", 0.10),
    ("E_SCOOTER", 0.10),
    ("CARGO_BIKE", 0.05),
)
FAILURE_REASONS = (("RECIPIENT_ABSENT", 0.7), ("ADDRESS_NOT_FOUND", 0.2), ("REFUSED", 0.1))
FAILURE_ACTIONS = (("LOCKER", 0.5), ("RETURN_TO_PICKUP", 0.4), ("SAFE_PLACE", 0.1))
P_IGNORE, P_FAIL, P_REDIRECT, P_LOCKER_DROPOFF, P_PHOTO = 0.05, 0.08, 0.05, 0.08, 0.5


@dataclass(frozen=True, slots=True)
class Size:
    jobs: int
    stores: int
    couriers: int
    lockers: int

    @staticmethod
    def of(small: bool) -> Size:
        return Size(60, 5, 20, 3) if small else Size(2000, 30, 600, 12)


Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Store:
    index: int
    point: Point


@dataclass(frozen=True, slots=True)
class LockerSite:
    index: int
    point: Point


@dataclass(frozen=True, slots=True)
class TripPlan:
    origin: Point
    destination: Point
    depart_after: datetime
    arrive_by: datetime
    max_detour_m: int


@dataclass(frozen=True, slots=True)
class CourierPlan:
    index: int
    vehicle: str
    level: int
    insured: bool
    cover_minor: int
    trips: tuple[TripPlan, ...]


@dataclass(frozen=True, slots=True)
class JobPlan:
    index: int
    store: int
    book_at: datetime
    pickup: tuple[datetime, datetime]
    delivery: tuple[datetime, datetime]
    dropoff: Point
    locker: int | None  # drop-off at this locker
    weight_g: int
    dims_mm: tuple[int, int, int]
    declared_minor: int
    on_failure: str
    fallback_locker: int
    redirect_at: datetime | None


@dataclass(frozen=True, slots=True)
class City:
    day: date
    stores: tuple[Store, ...]
    lockers: tuple[LockerSite, ...]
    couriers: tuple[CourierPlan, ...]
    jobs: tuple[JobPlan, ...]
    depot: Point = CENTRE
    polygon: tuple[Point, ...] = field(
        default=(
            (CENTRE[0] - 12 * KM_LAT, CENTRE[1] - 12 * KM_LNG),
            (CENTRE[0] - 12 * KM_LAT, CENTRE[1] + 12 * KM_LNG),
            (CENTRE[0] + 12 * KM_LAT, CENTRE[1] + 12 * KM_LNG),
            (CENTRE[0] + 12 * KM_LAT, CENTRE[1] - 12 * KM_LNG),
        )
    )

    def local(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day, time(hour, minute), ZoneInfo(TIME_ZONE))


def distance_m(a: Point, b: Point) -> float:
    """Great circle, metres."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _around(rng: random.Random, radius_km: float) -> Point:
    r, a = radius_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return (round(CENTRE[0] + r * math.sin(a) * KM_LAT, 6), round(CENTRE[1] + r * math.cos(a) * KM_LNG, 6))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _minutes(rng: random.Random, start: datetime, end: datetime, step: int = 5) -> datetime:
    slots = int((end - start).total_seconds() // (60 * step))
    return start + timedelta(minutes=step * rng.randint(0, slots))


def nearest(point: Point, sites: tuple[LockerSite, ...]) -> int:
    return min(sites, key=lambda s: distance_m(point, s.point)).index


def city(size: Size, seed: int, day: date) -> City:
    """The day's city: the same seed and size give the same city."""
    rng = random.Random(seed)  # noqa: S311 - a replayable simulation, not a secret
    shell = City(day, (), (), (), ())
    stores = tuple(Store(i, _around(rng, 4)) for i in range(size.stores))
    lockers = tuple(LockerSite(i, _around(rng, 4)) for i in range(size.lockers))
    couriers = []
    for i in range(size.couriers):
        home, work = _around(rng, 7), _around(rng, 3)
        morning = _minutes(rng, shell.local(7, 30), shell.local(10))
        evening = _minutes(rng, shell.local(14), shell.local(17, 30))
        vehicle = _pick(rng, VEHICLES)
        detour = rng.choice((8000, 10000, 12000) if vehicle == "CAR" else (4000, 5000, 6000, 7000))
        level = rng.choices((0, 1, 2), (0.2, 0.5, 0.3))[0]
        couriers.append(
            CourierPlan(
                index=i,
                vehicle=vehicle,
                level=level,
                insured=rng.random() < 0.85,
                cover_minor=rng.choice((50_000, 100_000, 150_000)),
                trips=(
                    TripPlan(home, work, morning, morning + timedelta(hours=3), detour),
                    TripPlan(work, home, evening, evening + timedelta(hours=3, minutes=30), detour),
                ),
            )
        )
    jobs = []
    for i in range(size.jobs):
        book_at = _minutes(rng, shell.local(6, 30), shell.local(16))
        start = max(book_at + timedelta(minutes=45), shell.local(8))
        start = start + timedelta(minutes=(15 - start.minute % 15) % 15)
        pickup = (start, min(start + timedelta(hours=3), shell.local(20)))
        delivery = (start, start + timedelta(hours=6))
        dropoff = _around(rng, 5)
        to_locker = rng.random() < P_LOCKER_DROPOFF
        value_band = rng.random()
        declared = (
            rng.randint(2_000, 9_999)
            if value_band < 0.7
            else rng.randint(10_000, 49_999)
            if value_band < 0.95
            else rng.randint(50_000, 90_000)
        )
        redirect = rng.random() < P_REDIRECT and not to_locker
        jobs.append(
            JobPlan(
                index=i,
                store=rng.randrange(size.stores),
                book_at=book_at,
                pickup=pickup,
                delivery=delivery,
                dropoff=dropoff,
                locker=nearest(dropoff, lockers) if to_locker else None,
                weight_g=rng.randint(200, 8_000),
                dims_mm=(rng.randint(150, 450), rng.randint(100, 300), rng.randint(50, 200)),
                declared_minor=declared,
                on_failure=_pick(rng, FAILURE_ACTIONS),
                fallback_locker=nearest(dropoff, lockers),
                redirect_at=book_at + timedelta(minutes=rng.randint(5, 60)) if redirect else None,
            )
        )
    return City(day, stores, lockers, tuple(couriers), tuple(jobs))


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # "accept", "decline", "ignore"
    reason: str | None = None


def decide(rng: random.Random, detour_m: int, pay_minor: int) -> Decision:
    """A courier's answer to an offer (see the module's docstring)."""
    if rng.random() < P_IGNORE:
        return Decision("ignore")
    p = min(0.98, max(0.15, 0.92 - 0.06 * detour_m / 1000 + 0.04 * (pay_minor - 400) / 100))
    if rng.random() < p:
        return Decision("accept")
    reason = "TOO_FAR" if detour_m > 3000 else "PAY_TOO_LOW" if pay_minor < 400 else "NO_TIME"
    return Decision("decline", reason)


def hand_over_fails(rng: random.Random) -> str | None:
    """The failed attempt's reason, or None when the recipient takes the parcel."""
    return _pick(rng, FAILURE_REASONS) if rng.random() < P_FAIL else None


def collection_delay(rng: random.Random) -> timedelta:
    return timedelta(minutes=rng.randint(60, 240))


def along(a: Point, b: Point, share: float) -> Point:
    """A point on the way from a to b (a straight line: the pings only need to be plausible)."""
    share = min(1.0, max(0.0, share))
    return (round(a[0] + (b[0] - a[0]) * share, 6), round(a[1] + (b[1] - a[1]) * share, 6))
