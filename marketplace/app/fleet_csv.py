"""GET /areas/{area_id}/fleet-manifest.csv?date=YYYY-MM-DD: the fleet manifest as CSV, for operations.

Authenticated like GraphQL (`Authorization: Bearer <access token>`), admin role only. The area is
its GraphQL global ID or its UUID; an unknown area answers 404 like a missing one.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import Response

from marketplace.app.csv_exports import RefusedError, attachment, caller, day, parse_area
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError
from marketplace.services.container import Services
from marketplace.services.fleet import manifest_csv


def _operations(principal: Principal) -> None:
    Scope(principal).admin()


@get("/areas/{area_id:str}/fleet-manifest.csv")
async def fleet_manifest_csv(
    state: State,
    area_id: FromPath[str],
    local_day: Annotated[str, QueryParameter(name="date")],
    authorization: Annotated[str | None, HeaderParameter(name="Authorization")] = None,
) -> Response[str]:
    services: Services = state["services"]
    try:
        await caller(services, authorization, _operations)
        on = day(local_day, "date")
        area = parse_area(area_id)
    except RefusedError as refused:
        return refused.response
    try:
        manifest = await services.fleet.manifest(area, on)
    except DomainError:
        return RefusedError(404, "no such service area").response
    filename = f"fleet-manifest-{manifest.area_name.replace(' ', '_')}-{on.isoformat()}.csv"
    return Response(manifest_csv(manifest), media_type="text/csv; charset=utf-8", headers=attachment(filename))
