"""The SQL of the API benchmark's raw endpoint (`marketplace/bench_api_raw.py`), kept with the other SQL.

Each statement is the text the named repository method runs for the benchmark's requests (no
cursor, no filters), built from the same column lists, so the baseline and the API read the same
rows the same way.
"""

from __future__ import annotations

from marketplace.repositories.jobs import _JOB_COLUMNS, _PARCEL_COLUMNS
from marketplace.repositories.offers import _COLUMNS as _OFFER_COLUMNS
from marketplace.repositories.places import _LOCATION_COLUMNS
from marketplace.repositories.trips import _TRIP_COLUMNS

# SessionRepository.active
SESSION_SQL = """
            SELECT u.id, u.role, u.organization_id FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
            """
# JobRepository.list_jobs
JOBS_SQL = f"""
            SELECT {_JOB_COLUMNS} FROM jobs
            WHERE ($2::uuid IS NULL OR organization_id = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR pickup_until > $4)
              AND ($5::timestamptz IS NULL OR pickup_from < $5)
              AND ($6::uuid IS NULL OR area_id = $6)
              AND TRUE
            ORDER BY created_at, id
            LIMIT $1
            """
# JobRepository._parcels_of
PARCELS_SQL = f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position"
# PickupLocationRepository.get_many_owned
LOCATIONS_SQL = f"""
            SELECT {_LOCATION_COLUMNS} FROM pickup_locations
            WHERE (id, organization_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
            """
# OfferDecisionRepository.list_for_courier
_OPEN_OFFER = "(CASE WHEN o.status = 'open' AND o.expires_at <= $4 THEN 'expired' ELSE o.status END)"
OFFERS_SQL = f"""
            SELECT {_OFFER_COLUMNS} FROM offers o
            WHERE ($2::uuid IS NULL OR o.courier_id = $2) AND ($3::text IS NULL OR {_OPEN_OFFER} = $3)
              AND TRUE
            ORDER BY o.created_at, o.id LIMIT $1
            """
# TripRepository.list_page
_OPEN_TRIP = "CASE WHEN status = 'open' AND arrive_by <= $2 THEN 'expired' ELSE status END"
TRIPS_SQL = f"""
            SELECT {_TRIP_COLUMNS} FROM trips
            WHERE ($3::uuid IS NULL OR courier_id = $3)
              AND ($4::text IS NULL OR {_OPEN_TRIP} = $4)
              AND ($5::timestamptz IS NULL OR depart_after >= $5)
              AND ($6::timestamptz IS NULL OR depart_after < $6)
              AND ($7::uuid IS NULL OR area_id = $7)
              AND TRUE
            ORDER BY created_at, id
            LIMIT $1
            """
