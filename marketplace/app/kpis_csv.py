"""GET /kpis.csv?from=YYYY-MM-DD&until=YYYY-MM-DD[&area=ID]: operations' KPIs as CSV, one row per area and day.

Authenticated like GraphQL (`Authorization: Bearer <access token>`), finance and operations only, as
`GET /ledger.csv` (the shared checks are `csv_exports.py`'s). Days are each area's local dates, both
included, at most 93; without `area`, every service area. Columns are `services/kpis.py`'s
`CSV_HEADER`; rates are 0 to 1, amounts minor units.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Response, Stream

from marketplace.app.csv_exports import RefusedError, area_id, attachment, caller, day
from marketplace.domain.errors import DomainError
from marketplace.services.container import Services


@get("/kpis.csv")
async def kpis_csv(
    state: State,
    first_day: Annotated[str, QueryParameter(name="from")],
    last_day: Annotated[str, QueryParameter(name="until")],
    area: Annotated[str | None, QueryParameter(name="area")] = None,
    authorization: Annotated[str | None, HeaderParameter(name="Authorization")] = None,
) -> Response[str] | Stream:
    services: Services = state["services"]
    try:
        principal = await caller(services, authorization, services.kpis.require_reader)
        first, last = day(first_day, "from"), day(last_day, "until")
        try:
            services.kpis.export_days(principal, first, last)
        except DomainError as exc:
            raise RefusedError(400, exc.errors[0].message) from None
        area_uuid = area_id(area)
    except RefusedError as refused:
        return refused.response
    return Stream(
        services.kpis.export_csv(first, last, area_id=area_uuid),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"kpis-{first.isoformat()}-{last.isoformat()}.csv"),
    )
