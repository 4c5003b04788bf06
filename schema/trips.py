"""Trips and commute templates in GraphQL."""

from __future__ import annotations

import strawberry


@strawberry.type
class TripQuery:
    pass


@strawberry.type
class TripMutation:
    pass
