"""Seeds a whole city from an engine instance (`python -m matching generate`), set-based, for benchmarks and tests.

One statement per table whatever the size: an area around every point, one retailer with a pickup
location and a booked one-parcel job per parcel, and per trip a courier with a vehicle, the trip,
the level grant and the verified insurance the instance gives it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class Seeded:
    area_id: UUID
    organization_id: UUID
    parcel_ids: dict[str, UUID]  # instance id -> parcel
    trip_ids: dict[str, UUID]
    courier_ids: dict[str, UUID]


# Stores open around the clock: the generator's windows are the windows the engine must see.
ALWAYS_OPEN = json.dumps([{"weekday": d, "opens": "00:00", "closes": "00:00"} for d in range(1, 8)])


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def seed_instance(
    conn: Conn,
    data: dict[str, Any],
    *,
    name: str = "Benchmark City",
    round_time_limit_s: int = 20,
    fleet_cutoff_s: int = 0,
) -> Seeded:
    now = _at(data["now"])
    parcels, trips = data["parcels"], data["trips"]
    points = [p for x in parcels for p in (x["pickup"], x["dropoff"])] + [
        p for t in trips for p in (t["origin"], t["destination"])
    ]
    lat0, lat1 = min(p[0] for p in points) - 0.05, max(p[0] for p in points) + 0.05
    lng0, lng1 = min(p[1] for p in points) - 0.05, max(p[1] for p in points) + 0.05
    polygon = [[lat0, lng0], [lat0, lng1], [lat1, lng1], [lat1, lng0]]
    area_id, org_id, admin_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO service_areas (id, name, country_code, currency, time_zone, polygon, min_lat, min_lng, max_lat,
            max_lng, fleet_base_minor, fleet_per_km_minor, active, created_at, updated_at, round_time_limit_s,
            fleet_cutoff_s)
        VALUES ($1, $2, 'DE', 'EUR', 'Europe/Berlin', $3::jsonb, $4, $5, $6, $7, 650, 60, TRUE, $8, $8, $9, $10)
        """,
        area_id,
        name,
        json.dumps(polygon),
        lat0,
        lng0,
        lat1,
        lng1,
        now - timedelta(days=30),
        round_time_limit_s,
        fleet_cutoff_s,
    )
    await conn.execute("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", org_id, name, now)
    await conn.execute(
        """
        INSERT INTO users (id, email, password_hash, role, organization_id, created_at)
        VALUES ($1, $2, 'seeded', 'admin', NULL, $3)
        """,
        admin_id,
        f"ops-{admin_id.hex[:8]}@seed.invalid",
        now,
    )

    parcel_ids = {p["id"]: uuid.uuid4() for p in parcels}
    job_ids = [uuid.uuid4() for _ in parcels]
    location_ids = [uuid.uuid4() for _ in parcels]
    await conn.execute(
        """
        INSERT INTO pickup_locations (id, organization_id, kind, name, street, house_number, postal_code, city,
            country_code, lat, lng, area_id, opening_hours, created_at)
        SELECT id, $2, 'store', 'Store ' || n, 'Hauptstrasse', n::text, '10115', 'Berlin', 'DE', lat, lng, $3,
               $7::jsonb, $4
        FROM unnest($1::uuid[], $5::float8[], $6::float8[]) WITH ORDINALITY AS t(id, lat, lng, n)
        """,
        location_ids,
        org_id,
        area_id,
        now,
        [p["pickup"][0] for p in parcels],
        [p["pickup"][1] for p in parcels],
        ALWAYS_OPEN,
    )
    await conn.execute(
        """
        INSERT INTO jobs (id, organization_id, area_id, status, pickup_location_id, pickup_lat, pickup_lng,
            dropoff_kind, dropoff_street, dropoff_house_number, dropoff_postal_code, dropoff_city,
            dropoff_country_code, dropoff_lat, dropoff_lng, pickup_from, pickup_until, deliver_from, deliver_until,
            recipient_name, recipient_phone, safe_place_consent, neighbour_consent, failure_action, price_minor,
            currency, price_parts, distance_m, created_at, updated_at, pickup_open_from, pickup_open_until,
            deliver_open_from, deliver_open_until)
        SELECT id, $2, $3, 'booked', loc, plat, plng, 'address', 'Nebenstrasse', n::text, '10117', 'Berlin', 'DE',
               dlat, dlng, pf, pu, df, du, 'Recipient ' || n, '+4930123456', FALSE, FALSE, 'return_to_pickup',
               1000, 'EUR', '[{"kind": "base", "amount_minor": 1000, "description": "seeded"}]'::jsonb, 0, $4, $4,
               pf, pu, df, du
        FROM unnest($1::uuid[], $5::uuid[], $6::float8[], $7::float8[], $8::float8[], $9::float8[],
                    $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[])
             WITH ORDINALITY AS t(id, loc, plat, plng, dlat, dlng, pf, pu, df, du, n)
        """,
        job_ids,
        org_id,
        area_id,
        now,
        location_ids,
        [p["pickup"][0] for p in parcels],
        [p["pickup"][1] for p in parcels],
        [p["dropoff"][0] for p in parcels],
        [p["dropoff"][1] for p in parcels],
        [_at(p["pickup_from"]) for p in parcels],
        [_at(p["pickup_until"]) for p in parcels],
        [_at(p["deliver_from"]) for p in parcels],
        [_at(p["deliver_until"]) for p in parcels],
    )
    await conn.execute(
        """
        INSERT INTO parcels (id, job_id, position, weight_g, length_mm, width_mm, height_mm, volume_cm3,
            declared_value_minor, currency, fragile, id_check, adults_only, created_at, area_id, status,
            status_changed_at)
        SELECT id, job, 0, w, 100, 100, 100, v, value, 'EUR', FALSE, FALSE, FALSE, $3, $4, 'booked', $3
        FROM unnest($1::uuid[], $2::uuid[], $5::int4[], $6::int4[], $7::int8[]) AS t(id, job, w, v, value)
        """,
        list(parcel_ids.values()),
        job_ids,
        now,
        area_id,
        [p["weight_g"] for p in parcels],
        [p["volume_cm3"] for p in parcels],
        [p["value"] for p in parcels],
    )

    courier_ids = {t["courier_id"]: uuid.uuid4() for t in trips}
    trip_ids = {t["id"]: uuid.uuid4() for t in trips}
    couriers = [courier_ids[t["courier_id"]] for t in trips]
    vehicle_ids = [uuid.uuid4() for _ in trips]
    await conn.execute(
        """
        INSERT INTO users (id, email, password_hash, role, organization_id, created_at)
        SELECT DISTINCT id, 'courier-' || id::text || '@seed.invalid', 'seeded', 'courier', NULL::uuid, $2::timestamptz
        FROM unnest($1::uuid[]) AS id
        """,
        list(courier_ids.values()),
        now - timedelta(days=30),
    )
    # Seeded couriers are paid out (their Stripe accounts are seeded as onboarded), unless the instance says not.
    paid = sorted({courier_ids[t["courier_id"]] for t in trips if t.get("payouts_enabled", True)})
    await conn.execute(
        """
        INSERT INTO payout_accounts (courier_id, account_id, payouts_enabled, created_at, updated_at)
        SELECT id, 'acct_seed' || replace(id::text, '-', ''), true, $2, $2 FROM unnest($1::uuid[]) AS id
        """,
        paid,
        now - timedelta(days=30),
    )
    await conn.execute(
        """
        INSERT INTO vehicles (id, courier_id, kind, name, max_weight_g, max_volume_cm3, zero_emission, co2_g_per_km,
            typical_speed_kmh, created_at)
        SELECT id, courier, 'car', 'Vehicle', w, v, co2 = 0, co2, speed, $2
        FROM unnest($1::uuid[], $3::uuid[], $4::int4[], $5::int4[], $6::int4[], $7::int4[])
             AS t(id, courier, w, v, co2, speed)
        """,
        vehicle_ids,
        now - timedelta(days=30),
        couriers,
        [t["capacity_g"] for t in trips],
        [t["capacity_cm3"] for t in trips],
        [round(t["co2_g_per_km"]) for t in trips],
        [max(1, round(t["speed_mps"] * 3.6)) for t in trips],
    )
    await conn.execute(
        """
        INSERT INTO trips (id, courier_id, vehicle_id, area_id, origin_lat, origin_lng, origin_label, destination_lat,
            destination_lng, destination_label, depart_after, arrive_by, spare_weight_g, spare_volume_cm3,
            max_detour_m, status, created_at, updated_at)
        SELECT id, courier, vehicle, $2, olat, olng, 'origin', dlat, dlng, 'destination', da, ab, w, v, detour,
               'open', $3, $3
        FROM unnest($1::uuid[], $4::uuid[], $5::uuid[], $6::float8[], $7::float8[], $8::float8[], $9::float8[],
                    $10::timestamptz[], $11::timestamptz[], $12::int4[], $13::int4[], $14::int4[])
             AS t(id, courier, vehicle, olat, olng, dlat, dlng, da, ab, w, v, detour)
        """,
        list(trip_ids.values()),
        area_id,
        now,
        couriers,
        vehicle_ids,
        [t["origin"][0] for t in trips],
        [t["origin"][1] for t in trips],
        [t["destination"][0] for t in trips],
        [t["destination"][1] for t in trips],
        [_at(t["depart_after"]) for t in trips],
        [_at(t["arrive_by"]) for t in trips],
        [t["capacity_g"] for t in trips],
        [t["capacity_cm3"] for t in trips],
        [round(t["max_detour_m"]) for t in trips],
    )
    leveled = [t for t in trips if t["verification_level"] > 0]
    request_ids = [uuid.uuid4() for _ in leveled]
    await conn.execute(
        """
        INSERT INTO verification_requests (id, courier_id, level, status, created_at, decided_at, decided_by)
        SELECT id, courier, level, 'approved', $3, $3, $4 FROM unnest($1::uuid[], $2::uuid[], $5::int2[])
             AS t(id, courier, level)
        """,
        request_ids,
        [courier_ids[t["courier_id"]] for t in leveled],
        now - timedelta(days=30),
        admin_id,
        [t["verification_level"] for t in leveled],
    )
    await conn.execute(
        """
        INSERT INTO courier_level_grants (id, courier_id, level, request_id, granted_at, valid_until, granted_by)
        SELECT gen_random_uuid(), courier, level, request, $3, $4, $5
        FROM unnest($1::uuid[], $2::uuid[], $6::int2[]) AS t(courier, request, level)
        """,
        [courier_ids[t["courier_id"]] for t in leveled],
        request_ids,
        now - timedelta(days=30),
        now + timedelta(days=365),
        admin_id,
        [t["verification_level"] for t in leveled],
    )
    insured = [t for t in trips if t.get("insurance")]
    await conn.execute(
        """
        INSERT INTO insurance_policies (id, courier_id, insurer, policy_number, cover_per_parcel_minor,
            cover_per_trip_minor, currency, valid_from, valid_until, status, created_at, decided_at, decided_by)
        SELECT gen_random_uuid(), courier, 'Seed Mutual', 'SEED-' || n, pp, pt, 'EUR', vf, vu, 'verified', $3, $3, $4
        FROM unnest($1::uuid[], $2::int8[], $5::int8[], $6::timestamptz[], $7::timestamptz[]) WITH ORDINALITY
             AS t(courier, pp, pt, vf, vu, n)
        """,
        [courier_ids[t["courier_id"]] for t in insured],
        [t["insurance"]["per_parcel"] for t in insured],
        now - timedelta(days=30),
        admin_id,
        [t["insurance"]["per_trip"] for t in insured],
        [_at(t["insurance"]["valid_from"]) for t in insured],
        [_at(t["insurance"]["valid_until"]) for t in insured],
    )
    return Seeded(area_id, org_id, parcel_ids, trip_ids, courier_ids)
