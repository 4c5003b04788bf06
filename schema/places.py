"""Service areas, pickup locations, lockers and pickup points in GraphQL."""

from __future__ import annotations

import strawberry


@strawberry.type
class PlacesQuery:
    pass


@strawberry.type
class PlacesMutation:
    pass
