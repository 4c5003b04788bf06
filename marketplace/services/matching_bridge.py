"""The bridge to the matching engine: an area's open trips and waiting parcels as an engine instance.

Everything is read in one snapshot and judged as of the instance's `now`: a courier's level and
insurance are those in force at that instant. The engine takes a trip's level as fixed, so a trip
gets the level those grants keep up to its latest arrival (a level lapsing mid-trip does not
count), and the insurance policy valid over the whole trip.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import matching
from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import matching_rules as rules
from marketplace.domain.areas import ServiceArea
from marketplace.domain.couriers import CourierStanding, InsurancePolicy, matching_cover
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, haversine_m
from marketplace.domain.jobs import Window, open_windows
from marketplace.domain.matching_input import OpenTrip, WaitingParcel
from marketplace.domain.rounds import PlacementReason, Plan, PlannedBundle, PlannedStop, Unplaced
from marketplace.domain.validation import window
from marketplace.logs import get_logger

log = get_logger("crowdship.matching")

MAX_RANGE = timedelta(days=7)


def _point(p: Point) -> tuple[float, float]:
    return (p.lat, p.lng)


def engine_rules(currency: str) -> matching.Rules:
    """The platform's rules with thresholds and pay in the area's currency."""
    local = rules.LocalRules.of(currency)
    return matching.Rules(
        road_factor=rules.ROAD_FACTOR,
        service_s=rules.SERVICE_S,
        max_parcels_per_trip=rules.MAX_PARCELS_PER_TRIP,
        verification=tuple(matching.VerificationRule(min_value=v, level=lv) for v, lv in local.verification),
        pay=matching.Pay(per_parcel=local.pay_per_parcel_minor, per_detour_km=local.pay_per_detour_km_minor),
    )


class MatchingBridge:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def instance(
        self, *, area_id: UUID, start: datetime, end: datetime, now: datetime | None = None
    ) -> matching.Instance:
        """Open trips and unassigned parcels of the area overlapping [start, end), as of `now`."""
        at = self._clock.now() if now is None else now
        problems: list[FieldError] = []
        window(start, end, "range", problems)
        if not problems and end - start > MAX_RANGE:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "the range may span at most 7 days", "range"))
        if problems:
            raise DomainError(problems)
        async with self._db.snapshot() as uow:
            area = await uow.repos.areas.get(area_id)
            if area is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "area")
            trips = await uow.repos.matching_input.open_trips(area.id, start, end, at)
            parcels = await uow.repos.matching_input.waiting_parcels(area.id, start, end, at)
            standings = await uow.repos.couriers.standings(sorted({t.courier_id for t in trips}), at)
            payouts = await uow.repos.payments.payout_accounts(sorted({t.courier_id for t in trips}))
            forbidden = await uow.repos.offers.forbidden_pairs(area.id)
        tariff = rules.FleetTariff.of(area)
        open_parcels = [p for p in (_while_open(parcel) for parcel in parcels) if p is not None]
        engine_trips = []
        for trip in trips:
            standing = standings[trip.courier_id]  # every courier asked for is answered, level 0 at least
            # A courier Stripe cannot pay out is offered no paid work; the engine explains it (payouts_disabled).
            account = payouts.get(trip.courier_id)
            paid = account is not None and account.payouts_enabled
            engine_trips.append(
                _trip(trip, standing.level_through(trip.arrive_by), _cover(standing, trip, area), payouts_enabled=paid)
            )
        return matching.Instance(
            now=at,
            rules=engine_rules(area.currency),
            parcels=tuple(_parcel(p, tariff) for p in open_parcels),
            trips=tuple(engine_trips),
            forbidden=_forbidden(forbidden, {t.id for t in trips}, {p.id for p in open_parcels}),
        )

    async def find_area(self, name_or_id: str) -> UUID:
        """For the command line: an area's id, given either its id or its name."""
        try:
            return UUID(name_or_id)
        except ValueError:
            pass
        async with self._db.read() as repos:
            area_id = await repos.matching_input.area_id_by_name(name_or_id)
        if area_id is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, f"no service area named {name_or_id!r}", "area")
        return area_id

    async def instance_json(
        self, *, area_id: UUID, start: datetime, end: datetime, now: datetime | None = None
    ) -> dict[str, Any]:
        """The engine's interchange JSON, checked by the engine's own parser before it leaves."""
        data = matching.instance_to_json(await self.instance(area_id=area_id, start=start, end=end, now=now))
        matching.parse_instance(data)
        return data

    async def solve(self, instance: matching.Instance, time_limit_s: float, executor: Executor | None) -> Plan:
        """Solves in `executor` (the worker's process pool), so the event loop keeps serving other jobs."""
        return await asyncio.get_running_loop().run_in_executor(executor, solve_plan, instance, time_limit_s)


def _forbidden(
    pairs: list[tuple[UUID, UUID]], trip_ids: set[UUID], parcel_ids: set[UUID]
) -> tuple[matching.Forbidden, ...]:
    """Pairs a declined, expired or withdrawn offer rules out, of the trips and parcels in the instance."""
    return tuple(
        matching.Forbidden(trip_id=str(t), parcel_id=str(p)) for t, p in pairs if t in trip_ids and p in parcel_ids
    )


def _cover(standing: CourierStanding, trip: OpenTrip, area: ServiceArea) -> InsurancePolicy | None:
    """The policy the engine should judge the trip by.

    Parcels of an area are priced in its currency, so a cover in another currency protects none of
    them. The engine insures a trip only with a policy valid over all of it, so the best such policy
    wins even over a larger one that ends mid-trip; with none, the best one valid now is shown, and
    the engine then explains the trip's refusals as `insurance_expired`.
    """
    in_currency = [p for p in standing.policies if p.cover_per_parcel.currency == area.currency]
    covering = [p for p in standing.policies_covering(trip.depart_after, trip.arrive_by) if p in in_currency]
    return matching_cover(covering) or matching_cover(in_currency)


def _trip(trip: OpenTrip, level: int, cover: InsurancePolicy | None, *, payouts_enabled: bool = True) -> matching.Trip:
    insurance = None
    if cover is not None:
        insurance = matching.Insurance(
            per_parcel=cover.cover_per_parcel.amount_minor,
            per_trip=cover.cover_per_trip.amount_minor,
            currency=cover.cover_per_parcel.currency,
            valid_from=cover.valid_from,
            valid_until=cover.valid_until,
        )
    return matching.Trip(
        id=str(trip.id),
        courier_id=str(trip.courier_id),
        origin=_point(trip.origin),
        destination=_point(trip.destination),
        depart_after=trip.depart_after,
        arrive_by=trip.arrive_by,
        speed_mps=trip.speed_kmh / 3.6,
        capacity_g=trip.spare_weight_g,
        capacity_cm3=trip.spare_volume_cm3,
        max_detour_m=float(trip.max_detour_m),
        verification_level=level,
        insurance=insurance,
        co2_g_per_km=float(trip.co2_g_per_km),
        payouts_enabled=payouts_enabled,
    )


def _while_open(parcel: WaitingParcel) -> WaitingParcel | None:
    """The parcel with windows only when its store and locker are open, by the hours they keep now.

    The job was booked with its open windows; a store or locker whose hours changed since is held to
    them again (the same longest-part rule, domain/jobs.open_windows, without regard to the instant:
    a window simply over is the engine's to explain). A parcel whose place is now closed throughout a
    window cannot be served as booked: it is left out, and logged for operations.
    """
    pickup_open, delivery_open = open_windows(
        Window(parcel.pickup_from, parcel.pickup_until),
        Window(parcel.deliver_from, parcel.deliver_until),
        store_hours=parcel.store_hours,
        locker_hours=parcel.locker_hours,
        time_zone=parcel.time_zone,
        now=None,
    )
    if pickup_open is None or delivery_open is None:
        log.warning("parcel_place_closed", parcel_id=str(parcel.id), job_id=str(parcel.job_id))
        return None
    return replace(
        parcel,
        pickup_from=pickup_open.start_at,
        pickup_until=pickup_open.end_at,
        deliver_from=delivery_open.start_at,
        deliver_until=delivery_open.end_at,
    )


def _parcel(parcel: WaitingParcel, tariff: rules.FleetTariff) -> matching.Parcel:
    return matching.Parcel(
        id=str(parcel.id),
        pickup=_point(parcel.pickup),
        dropoff=_point(parcel.dropoff),
        pickup_from=parcel.pickup_from,
        pickup_until=parcel.pickup_until,
        deliver_from=parcel.deliver_from,
        deliver_until=parcel.deliver_until,
        weight_g=parcel.weight_g,
        volume_cm3=parcel.volume_cm3,
        value=parcel.declared_value_minor,
        currency=parcel.currency,
        fallback_cost=tariff.cost_minor(haversine_m(parcel.pickup, parcel.dropoff)),
    )


# What a matching round runs in its worker's process pool: plain data in, the plan in marketplace terms out.


def solve_plan(instance: matching.Instance, time_limit_s: float) -> Plan:
    """Solves with HiGHS under the area's time limit; runs in a pool process, never on the event loop."""
    solution = matching.solve(instance, matching.SolveParams(time_limit_s=time_limit_s, solver="highs"))
    return plan_of(instance, solution)


def warm_up() -> int:
    """A tiny solve that loads (or compiles, on a fresh install) the engine's kernels; returns the pid."""
    import os

    matching.solve(matching.generate(30, 10, seed=1), matching.SolveParams(time_limit_s=30.0, solver="highs"))
    return os.getpid()


def plan_of(instance: matching.Instance, solution: matching.Solution) -> Plan:
    couriers = {t.id: t.courier_id for t in instance.trips}
    return Plan(
        parcels_count=len(instance.parcels),
        trips_count=len(instance.trips),
        bundles=tuple(
            PlannedBundle(
                trip_id=UUID(a.trip_id),
                courier_id=UUID(couriers[a.trip_id]),
                parcel_ids=tuple(UUID(p) for p in a.parcel_ids),
                stops=tuple(PlannedStop(UUID(s.parcel_id), s.kind, s.at) for s in a.stops),
                detour_m=a.detour_m,
                co2_g=a.co2_g,
                cost_minor=a.cost,
            )
            for a in solution.assignments
        ),
        unplaced=tuple(
            Unplaced(UUID(u.parcel_id), u.fallback_cost, tuple(PlacementReason(r.code, r.trips) for r in u.reasons))
            for u in solution.unassigned
        ),
        cost_crowd_minor=solution.cost.crowd,
        cost_fallback_minor=solution.cost.fallback,
        cost_total_minor=solution.cost.total,
        bound_lower_minor=solution.bound.lower,
        gap=solution.bound.gap,
        stats=solution.stats.as_dict(),
        solution_json=matching.solution_to_json(solution),
    )
