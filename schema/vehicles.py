"""Couriers' vehicles in GraphQL."""

from __future__ import annotations

import strawberry


@strawberry.type
class VehicleQuery:
    pass


@strawberry.type
class VehicleMutation:
    pass
