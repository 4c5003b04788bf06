"""Operations' KPIs per service area: a local day, the hours of today, and a CSV of days for finance.

Finance and operations read them (as they read the books); an unknown area is NOT_FOUND. Every
figure is counted afresh in SQL from one read-only snapshot, so a day's rates never mix two moments.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.kpis import AreaKpis, FleetFigures, Granularity, KpiCounts, Priced, VanOnlyFigures
from marketplace.domain.vans import VanPlanKind
from marketplace.repositories import Repositories

# A CSV export covers at most this many days, like the ledger's.
EXPORT_MAX_DAYS = 93


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


async def _figures(
    repos: Repositories, area: ServiceArea, start: datetime, end: datetime, unit: Granularity
) -> dict[datetime, AreaKpis]:
    """Every period of [start, end) that saw anything, keyed by its start (UTC).

    A day with a stored van plan takes the fleet's (and the van-only) cost, km and CO2 from its
    routes for the parcels they deliver, and prices every other parcel at the tariff; a day without
    one, and every hour (a plan is a day's, no hour's), the labelled tariff fallback (`FigureSource`).
    """
    zone = area.time_zone
    args = (area.id, start, end, unit, zone)
    await repos.kpis.without_jit()
    events = await repos.kpis.events(*args)
    reasons = await repos.kpis.failed_by_reason(*args)
    offers = await repos.kpis.offers(*args)
    capacity = await repos.kpis.capacity(*args)
    emissions = await repos.kpis.emissions(*args)
    ledger = await repos.kpis.ledger(*args, area.currency)
    fleet = await repos.kpis.fleet_figures(*args)
    van_only = await repos.kpis.van_only_cost(*args)
    local = ZoneInfo(zone)
    first_day, last_day = start.astimezone(local).date(), (end - timedelta(microseconds=1)).astimezone(local).date()
    by_day = unit is Granularity.DAY
    plans = await repos.kpis.van_plans(area.id, first_day, last_day, area.currency) if by_day else {}
    fleet_unserved = await repos.kpis.fleet_unserved(area.id, start, end, zone, area.currency) if by_day else {}
    baseline_unserved = (
        await repos.kpis.baseline_unserved(area.id, first_day, last_day, area.currency) if by_day else {}
    )
    periods = set(events) | set(offers) | set(capacity) | set(ledger) | set(fleet)
    periods |= {_local_midnight(day, local) for day, _ in plans}
    out = {}
    for period in periods:
        ev = events.get(period, {})
        made, accepted = offers.get(period, (0, 0))
        cap = capacity.get(period, {})
        pay, revenue = ledger.get(period, (0, 0))

        def n(key: str, row: dict[str, object] = ev) -> int:
            value = row.get(key)
            return int(value) if isinstance(value, int) else 0

        def seconds(key: str, row: dict[str, object] = ev) -> float | None:
            value = row.get(key)
            return float(value) if isinstance(value, float | int) else None

        counts = KpiCounts(
            booked=n("booked"),
            delivered=n("delivered"),
            delivered_on_time=n("delivered_on_time"),
            attempts=n("attempts"),
            first_attempts=n("first_attempts"),
            first_attempt_successes=n("first_attempt_successes"),
            failed_attempts=n("failed_attempts"),
            returned=n("returned"),
            handed_to_fleet=n("handed_to_fleet"),
            crowd_parcels=n("crowd_parcels"),
            crowd_stops=n("crowd_stops"),
            locker_deposits=n("locker_deposits"),
            locker_collections=n("locker_collections"),
            locker_returns=n("locker_returns"),
            assigned=n("assigned"),
            booking_to_assignment_median_s=seconds("assign_median_s"),
            booking_to_assignment_p90_s=seconds("assign_p90_s"),
            offers=made,
            offers_accepted=accepted,
            trips=cap.get("trips", 0),
            capacity_weight_g=cap.get("capacity_weight_g", 0),
            used_weight_g=cap.get("used_weight_g", 0),
            capacity_volume_cm3=cap.get("capacity_volume_cm3", 0),
            used_volume_cm3=cap.get("used_volume_cm3", 0),
            crowd_pay_minor=pay,
            revenue_minor=revenue,
            failed_by_reason=reasons.get(period, {}),
            vehicles=emissions.get(period, ()),
        )
        step = timedelta(days=1) if unit is Granularity.DAY else timedelta(hours=1)
        period_utc = period.astimezone(UTC)
        end_at = (
            _local_midnight(period.astimezone(ZoneInfo(zone)).date() + step, ZoneInfo(zone))
            if unit is Granularity.DAY
            else period_utc + step
        )
        local_day = period.astimezone(local).date()
        at_tariff = fleet.get(period, FleetFigures())
        baseline = plans.get((local_day, VanPlanKind.BASELINE))
        unserved, unserved_stops = baseline_unserved.get(local_day, (Priced(), 0))
        out[period_utc] = AreaKpis(
            area_id=area.id,
            currency=area.currency,
            granularity=unit,
            start_at=period_utc,
            end_at=end_at,
            counts=counts,
            fleet=at_tariff.with_routes(
                plans.get((local_day, VanPlanKind.FLEET)), fleet_unserved.get(local_day, Priced())
            ),
            van_only=(
                VanOnlyFigures.at_tariff(
                    counts.crowd_parcels + at_tariff.parcels,
                    counts.crowd_stops + at_tariff.stops,
                    van_only.get(period, 0),
                )
                if baseline is None
                else VanOnlyFigures.of_plan(baseline, unserved, unserved_stops)
            ),
        )
    return out


def _empty(area: ServiceArea, unit: Granularity, start: datetime, end: datetime) -> AreaKpis:
    return AreaKpis(area.id, area.currency, unit, start, end, KpiCounts(), FleetFigures(), VanOnlyFigures())


class KpiService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def require_reader(self, principal: Principal) -> None:
        """Finance and operations (signed-in users, not API keys); anyone else is FORBIDDEN."""
        Scope(principal).books()

    async def _area(self, repos: Repositories, area_id: UUID) -> ServiceArea:
        area = await repos.areas.get(area_id)
        if area is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
        return area

    async def day(self, principal: Principal, area_id: UUID, day: date) -> AreaKpis:
        """The area's local `day` (midnight to midnight in its time zone)."""
        self.require_reader(principal)
        async with self._db.snapshot() as uow:
            area = await self._area(uow.repos, area_id)
            zone = ZoneInfo(area.time_zone)
            start, end = _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)
            found = await _figures(uow.repos, area, start, end, Granularity.DAY)
        return found.get(start) or _empty(area, Granularity.DAY, start, end)

    async def today_by_hour(self, principal: Principal, area_id: UUID) -> list[AreaKpis]:
        """Each hour of the area's current local day up to the one running now, oldest first."""
        self.require_reader(principal)
        now = self._clock.now()
        async with self._db.snapshot() as uow:
            area = await self._area(uow.repos, area_id)
            zone = ZoneInfo(area.time_zone)
            start = _local_midnight(now.astimezone(zone).date(), zone)
            end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            found = await _figures(uow.repos, area, start, end, Granularity.HOUR)
        hours = []
        at = start
        while at < end:
            hours.append(found.get(at) or _empty(area, Granularity.HOUR, at, at + timedelta(hours=1)))
            at += timedelta(hours=1)
        return hours

    def export_days(self, principal: Principal, first_day: date, last_day: date) -> None:
        """Checks who asks and the range of a CSV export before anything is read."""
        self.require_reader(principal)
        if last_day < first_day:
            raise DomainError.single(ErrorCode.WINDOW_ORDER, "the range ends before it starts", "until")
        if (last_day - first_day).days + 1 > EXPORT_MAX_DAYS:
            raise DomainError.single(ErrorCode.OUT_OF_RANGE, f"at most {EXPORT_MAX_DAYS} days per export", "until")

    async def export_csv(self, first_day: date, last_day: date, *, area_id: UUID | None) -> AsyncIterator[str]:
        """One row per area and local day, every day of the range (check with export_days first)."""
        yield _csv([CSV_HEADER])
        async with self._db.snapshot() as uow:
            ids = await uow.repos.kpis.area_ids() if area_id is None else [area_id]
            areas = list((await uow.repos.areas.get_many(ids)).values())
            for area in sorted(areas, key=lambda a: (a.name.lower(), str(a.id))):
                zone = ZoneInfo(area.time_zone)
                start = _local_midnight(first_day, zone)
                end = _local_midnight(last_day + timedelta(days=1), zone)
                found = await _figures(uow.repos, area, start, end, Granularity.DAY)
                rows = []
                day = first_day
                while day <= last_day:
                    at, until = _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)
                    rows.append(csv_row(area, day, found.get(at) or _empty(area, Granularity.DAY, at, until)))
                    day += timedelta(days=1)
                yield _csv(rows)


def _csv(rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _num(value: float | int | None) -> object:
    if value is None:
        return ""
    return round(value, 4) if isinstance(value, float) else value


CSV_HEADER = (
    "area_id",
    "area_name",
    "date",
    "currency",
    "booked",
    "delivered",
    "delivered_on_time",
    "on_time_rate",
    "first_attempts",
    "first_attempt_successes",
    "first_attempt_success_rate",
    "attempts",
    "failed_attempts",
    "failed_delivery_rate",
    "failed_by_reason",
    "returned",
    "handed_to_fleet",
    "crowd_parcels",
    "crowd_share",
    "crowd_stops",
    "fleet_stops",
    "crowd_pay_minor",
    "fleet_cost_minor",
    "cost_per_parcel_minor",
    "cost_per_stop_minor",
    "crowd_cost_per_parcel_minor",
    "fleet_cost_per_parcel_minor",
    "crowd_cost_per_stop_minor",
    "fleet_cost_per_stop_minor",
    "fleet_source",
    "fleet_route_parcels",
    "fleet_route_cost_minor",
    "fleet_tariff_parcels",
    "fleet_tariff_cost_minor",
    "fleet_distance_m",
    "van_only_source",
    "van_only_route_parcels",
    "van_only_tariff_parcels",
    "van_only_tariff_cost_minor",
    "van_only_parcels",
    "van_only_stops",
    "van_only_cost_minor",
    "van_only_cost_per_parcel_minor",
    "van_only_cost_per_stop_minor",
    "van_only_distance_m",
    "revenue_minor",
    "revenue_per_parcel_minor",
    "offers",
    "offers_accepted",
    "offer_acceptance_rate",
    "capacity_weight_used",
    "capacity_volume_used",
    "booking_to_assignment_median_s",
    "booking_to_assignment_p90_s",
    "crowd_detour_m",
    "crowd_co2_g",
    "crowd_co2_g_per_km",
    "fleet_co2_g",
    "fleet_co2_g_per_km",
    "co2_per_parcel_g",
    "co2_g_per_km",
    "van_only_co2_g",
    "van_only_co2_per_parcel_g",
    "van_only_co2_g_per_km",
    "locker_deposits",
    "locker_collections",
    "locker_returns",
)


def csv_row(area: ServiceArea, day: date, k: AreaKpis) -> tuple[object, ...]:
    c = k.counts
    return (
        area.id,
        area.name,
        day.isoformat(),
        area.currency,
        c.booked,
        c.delivered,
        c.delivered_on_time,
        _num(k.on_time_rate),
        c.first_attempts,
        c.first_attempt_successes,
        _num(k.first_attempt_success_rate),
        c.attempts,
        c.failed_attempts,
        _num(k.failed_delivery_rate),
        ";".join(f"{r.reason}:{r.count}" for r in k.failed_by_reason),
        c.returned,
        c.handed_to_fleet,
        c.crowd_parcels,
        _num(k.crowd_share),
        c.crowd_stops,
        k.fleet.stops,
        c.crowd_pay_minor,
        k.fleet.cost_minor,
        _num(k.cost_per_parcel_minor),
        _num(k.cost_per_stop_minor),
        _num(k.crowd_cost_per_parcel_minor),
        _num(k.fleet_cost_per_parcel_minor),
        _num(k.crowd_cost_per_stop_minor),
        _num(k.fleet_cost_per_stop_minor),
        k.fleet.source.value,
        k.fleet.routes.parcels,
        k.fleet.routes.cost_minor,
        k.fleet.tariff.parcels,
        k.fleet.tariff.cost_minor,
        k.fleet.distance_m,
        k.van_only.source.value,
        k.van_only.routes.parcels,
        k.van_only.tariff.parcels,
        k.van_only.tariff.cost_minor,
        k.van_only.parcels,
        k.van_only.stops,
        k.van_only.cost_minor,
        _num(k.van_only_cost_per_parcel_minor),
        _num(k.van_only.cost_per_stop_minor),
        k.van_only.distance_m,
        c.revenue_minor,
        _num(k.revenue_per_parcel_minor),
        c.offers,
        c.offers_accepted,
        _num(k.offer_acceptance_rate),
        _num(k.capacity_weight_used),
        _num(k.capacity_volume_used),
        _num(c.booking_to_assignment_median_s),
        _num(c.booking_to_assignment_p90_s),
        k.crowd_detour_m,
        k.crowd_co2_g,
        _num(k.crowd_co2_g_per_km),
        k.fleet.co2_g,
        _num(k.fleet.co2_g_per_km),
        _num(k.co2_per_parcel_g),
        _num(k.co2_g_per_km),
        k.van_only.co2_g,
        _num(k.van_only_co2_per_parcel_g),
        _num(k.van_only.co2_g_per_km),
        c.locker_deposits,
        c.locker_collections,
        c.locker_returns,
    )
