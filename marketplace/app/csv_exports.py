"""What every CSV download shares: the bearer token checked like GraphQL's, who may download, and the
dates and area of the query string. Answers are plain text (401, 403, 400, 404) before any CSV starts."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from litestar.response import Response
from strawberry import relay

from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError
from marketplace.services.container import Services
from marketplace.services.tokens import InvalidTokenError


class RefusedError(Exception):
    """The request ends with this plain-text answer."""

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.response = Response(text + "\n", status_code=status, media_type="text/plain", headers=headers)


async def caller(services: Services, authorization: str | None, require: Callable[[Principal], None]) -> Principal:
    """The authenticated caller, refused (403) when `require` raises: who asks is judged before what is asked."""
    bearer = None
    if authorization and authorization.lower().startswith("bearer "):
        bearer = authorization[7:].strip()
    if not bearer:
        raise RefusedError(401, "authentication required", {"WWW-Authenticate": "Bearer"})
    try:
        principal = await services.accounts.authenticate(bearer)
    except InvalidTokenError as exc:
        raise RefusedError(401, f"authentication failed: {exc.problem.value}", {"WWW-Authenticate": "Bearer"}) from None
    try:
        require(principal)
    except DomainError:
        raise RefusedError(403, "not allowed for this account") from None
    return principal


def day(value: str, name: str) -> date:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise RefusedError(400, f"{name} must be YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class DayRange:
    first_day: date
    last_day: date
    start: datetime  # UTC, the first day's midnight
    end: datetime  # UTC, the midnight after the last day


def finance_range(services: Services, principal: Principal, first_day: str, last_day: str) -> DayRange:
    """`from`..`until`, UTC dates both included, within the finance export's limit."""
    first, last = day(first_day, "from"), day(last_day, "until")
    try:
        start, end = services.finance.export_range(principal, first, last)
    except DomainError as exc:
        raise RefusedError(400, exc.errors[0].message) from None
    return DayRange(first, last, start, end)


def area_id(value: str | None) -> UUID | None:
    """An optional area of a query string (its UUID or GraphQL ID); one that names nothing is a 404."""
    return None if value is None else parse_area(value)


def parse_area(value: str) -> UUID:
    """An area's UUID or GraphQL ID; one that names nothing is a 404, like a missing area."""
    try:
        return UUID(value)
    except ValueError:
        pass
    try:
        gid = relay.GlobalID.from_id(value)
        if gid.type_name == "ServiceArea":
            return UUID(gid.node_id)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise RefusedError(404, "no such service area")


def attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
