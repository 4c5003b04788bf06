"""Quotes and jobs in GraphQL."""

from __future__ import annotations

import strawberry


@strawberry.type
class JobQuery:
    pass


@strawberry.type
class JobMutation:
    pass
