"""Courier verification and insurance in GraphQL."""

from __future__ import annotations

import strawberry


@strawberry.type
class CourierQuery:
    pass


@strawberry.type
class CourierMutation:
    pass
