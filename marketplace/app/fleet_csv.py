"""GET /areas/{area_id}/fleet-manifest.csv?date=YYYY-MM-DD: the fleet manifest as CSV, for operations.

Authenticated like GraphQL (`Authorization: Bearer <access token>`), admin role only. The area is
its GraphQL global ID or its UUID; an unknown area answers 404 like a missing one.
"""

from __future__ import annotations

import binascii
from datetime import date
from typing import Annotated
from uuid import UUID

from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter
from litestar.response import Response
from strawberry import relay

from marketplace.domain.accounts import Role
from marketplace.domain.errors import DomainError
from marketplace.services.container import Services
from marketplace.services.fleet import manifest_csv
from marketplace.services.tokens import InvalidTokenError


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


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(text + "\n", status_code=status, media_type="text/plain", headers=headers)


@get("/areas/{area_id:str}/fleet-manifest.csv")
async def fleet_manifest_csv(
    state: State,
    area_id: FromPath[str],
    day: Annotated[str, Parameter(query="date")],
    authorization: Annotated[str | None, Parameter(header="Authorization")] = None,
) -> Response[str]:
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
    if principal.role is not Role.ADMIN:
        return _text(403, "not allowed for this account")
    try:
        local_date = _date(day)
    except ValueError:
        return _text(400, "date must be YYYY-MM-DD")
    area = _area_id(area_id)
    if area is None:
        return _text(404, "no such service area")
    try:
        manifest = await services.fleet.manifest(area, local_date)
    except DomainError:
        return _text(404, "no such service area")
    filename = f"fleet-manifest-{manifest.area_name.replace(' ', '_')}-{local_date.isoformat()}.csv"
    return Response(
        manifest_csv(manifest),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _date(value: str) -> date:
    return date.fromisoformat(value) if len(value) == 10 else date.fromisoformat("invalid")
