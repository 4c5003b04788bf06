"""The professional fleet: parcels the crowd has not taken by the cut-off, and the per-day manifest.

A parcel still waiting (`booked`) when its pickup window closes within the area's cut-off (default
30 minutes before `pickup_until`) becomes `handed_to_fleet`, keeping the latest round's explanation
and its fallback cost. The manifest lists an area's handed-over parcels whose pickup window opens
on a local date of the area, with addresses, windows and the fleet's cost.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import matching_rules as rules
from marketplace.domain.delivery import SYSTEM, ParcelEvent, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import haversine_m
from marketplace.repositories.dispatch import ManifestLine


@dataclass(frozen=True, slots=True)
class Manifest:
    area_id: UUID
    area_name: str
    date: date
    time_zone: str
    lines: tuple[ManifestLine, ...]


CSV_HEADER = (
    "parcel_id",
    "job_id",
    "reference",
    "retailer",
    "pickup_name",
    "pickup_address",
    "pickup_lat",
    "pickup_lng",
    "dropoff_address",
    "dropoff_lat",
    "dropoff_lng",
    "pickup_from",
    "pickup_until",
    "deliver_from",
    "deliver_until",
    "weight_g",
    "volume_cm3",
    "fallback_cost_minor",
    "currency",
    "handed_at",
    "reasons",
)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def manifest_csv(manifest: Manifest) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in manifest.lines:
        writer.writerow(
            (
                line.parcel_id,
                line.job_id,
                line.reference or "",
                line.organization_name,
                line.pickup_name,
                line.pickup_address,
                line.pickup_point.lat,
                line.pickup_point.lng,
                line.dropoff_address,
                line.dropoff_point.lat,
                line.dropoff_point.lng,
                _utc(line.pickup_from),
                _utc(line.pickup_until),
                _utc(line.deliver_from),
                _utc(line.deliver_until),
                line.weight_g,
                line.volume_cm3,
                "" if line.fallback_cost_minor is None else line.fallback_cost_minor,
                line.currency,
                _utc(line.handed_at),
                ";".join(f"{r['code']}:{r['trips']}" for r in line.reasons),
            )
        )
    return out.getvalue()


class FleetService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def hand_off_due(self) -> int:
        """Hands every area's parcels past their cut-off to the fleet; safe on any number of workers."""
        now = self._clock.now()
        async with self._db.read() as repos:
            areas = await repos.rounds.active_areas()
        handed = 0
        for settings in areas:
            async with self._db.uow() as uow:
                due = await uow.repos.dispatch.fleet_due(settings.area_id, now, settings.fleet_cutoff_s)
                if not due:
                    continue
                area = await uow.repos.areas.get(settings.area_id)
                assert area is not None
                tariff = rules.FleetTariff.of(area)
                costs = {
                    c.head.id: c.fallback_cost_minor
                    if c.fallback_cost_minor is not None
                    else tariff.cost_minor(haversine_m(c.pickup, c.dropoff))
                    for c in due
                }
                await uow.repos.dispatch.set_fallback_costs(
                    [(c.head.id, costs[c.head.id]) for c in due if c.fallback_cost_minor is None]
                )
                await uow.repos.delivery.apply(
                    [(c.head.id, transition(c.head.status, ParcelStatus.HANDED_TO_FLEET)) for c in due], now
                )
                await uow.repos.parcel_events.append(
                    [
                        ParcelEvent(
                            id=uuid.uuid4(),
                            parcel_id=c.head.id,
                            job_id=c.head.job_id,
                            organization_id=c.head.organization_id,
                            area_id=c.head.area_id,
                            kind=ParcelStatus.HANDED_TO_FLEET.value,
                            actor=SYSTEM,
                            occurred_at=now,
                            from_status=c.head.status,
                            to_status=ParcelStatus.HANDED_TO_FLEET,
                            reason_code="fleet_cutoff",
                            details={
                                "fallback_cost_minor": costs[c.head.id],
                                "reasons": c.placement_reasons or [],
                            },
                        )
                        for c in due
                    ]
                )
                await uow.commit()
            handed += len(due)
        return handed

    async def manifest(self, area_id: UUID, day: date) -> Manifest:
        async with self._db.read() as repos:
            area = await repos.areas.get(area_id)
            if area is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
            zone = ZoneInfo(area.time_zone)
            start = datetime.combine(day, time(0), zone)
            end = datetime.combine(day + timedelta(days=1), time(0), zone)
            lines = await repos.dispatch.fleet_manifest(area_id, start, end)
        return Manifest(area.id, area.name, day, area.time_zone, tuple(lines))
