"""GET /ledger.csv?from=YYYY-MM-DD&until=YYYY-MM-DD[&area=ID]: the ledger's lines as CSV, for finance.

Authenticated like GraphQL (`Authorization: Bearer <access token>`), finance and operations only.
The range is UTC dates, both included, at most 93 days; lines are those that occurred in it, in
entry order, one row per line with its entry's business key, read from one snapshot and streamed.
"""

from __future__ import annotations

import binascii
from datetime import date
from typing import Annotated
from uuid import UUID

from litestar import get
from litestar.datastructures import State
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Response, Stream
from strawberry import relay

from marketplace.domain.errors import DomainError
from marketplace.services.container import Services
from marketplace.services.tokens import InvalidTokenError


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(text + "\n", status_code=status, media_type="text/plain", headers=headers)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _area_id(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        pass
    try:
        gid = relay.GlobalID.from_id(value)
        return UUID(gid.node_id) if gid.type_name == "ServiceArea" else None
    except (ValueError, TypeError, binascii.Error):
        return None


@get("/ledger.csv")
async def ledger_csv(
    state: State,
    first_day: Annotated[str, QueryParameter(name="from")],
    last_day: Annotated[str, QueryParameter(name="until")],
    area: Annotated[str | None, QueryParameter(name="area")] = None,
    authorization: Annotated[str | None, HeaderParameter(name="Authorization")] = None,
) -> Response[str] | Stream:
    services: Services = state["services"]
    bearer = None
    if authorization and authorization.lower().startswith("bearer "):
        bearer = authorization[7:].strip()
    if not bearer:
        return _text(401, "authentication required", {"WWW-Authenticate": "Bearer"})
    try:
        principal = await services.accounts.authenticate(bearer)
    except InvalidTokenError as exc:
        return _text(401, f"authentication failed: {exc.problem.value}", {"WWW-Authenticate": "Bearer"})
    try:
        # Who asks is judged before what is asked: a refused caller learns nothing of the input rules.
        services.finance.require_reader(principal)
    except DomainError:
        return _text(403, "not allowed for this account")
    start_day, end_day = _date(first_day), _date(last_day)
    if start_day is None or end_day is None:
        return _text(400, "from and until must be YYYY-MM-DD")
    try:
        start, end = services.finance.export_range(principal, start_day, end_day)
    except DomainError as exc:
        return _text(400, exc.errors[0].message)
    area_id = None if area is None else _area_id(area)
    if area is not None and area_id is None:
        return _text(404, "no such service area")
    filename = f"ledger-{start_day.isoformat()}-{end_day.isoformat()}.csv"
    return Stream(
        services.finance.export_csv(start, end, area_id=area_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
