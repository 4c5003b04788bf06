"""GET /ledger.csv and GET /reconciliation.csv?from=YYYY-MM-DD&until=YYYY-MM-DD: the books as CSV, for finance.

Authenticated like GraphQL (`Authorization: Bearer <access token>`), finance and operations only.
The range is UTC dates, both included, at most 93 days, read from one snapshot and streamed. The
ledger: the lines that occurred in it (optionally one `area`), in entry order, one row per line with
its entry's business key. The reconciliation: the mismatches of each day's current run, both sides.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Response, Stream

from marketplace.app.csv_exports import RefusedError, area_id, attachment, caller, finance_range
from marketplace.services.container import Services


@get("/ledger.csv")
async def ledger_csv(
    state: State,
    first_day: Annotated[str, QueryParameter(name="from")],
    last_day: Annotated[str, QueryParameter(name="until")],
    area: Annotated[str | None, QueryParameter(name="area")] = None,
    authorization: Annotated[str | None, HeaderParameter(name="Authorization")] = None,
) -> Response[str] | Stream:
    services: Services = state["services"]
    try:
        principal = await caller(services, authorization, services.finance.require_reader)
        days = finance_range(services, principal, first_day, last_day)
        area_uuid = area_id(area)
    except RefusedError as refused:
        return refused.response
    return Stream(
        services.finance.export_csv(days.start, days.end, area_id=area_uuid),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"ledger-{days.first_day.isoformat()}-{days.last_day.isoformat()}.csv"),
    )


@get("/reconciliation.csv")
async def reconciliation_csv(
    state: State,
    first_day: Annotated[str, QueryParameter(name="from")],
    last_day: Annotated[str, QueryParameter(name="until")],
    authorization: Annotated[str | None, HeaderParameter(name="Authorization")] = None,
) -> Response[str] | Stream:
    services: Services = state["services"]
    try:
        principal = await caller(services, authorization, services.finance.require_reader)
        days = finance_range(services, principal, first_day, last_day)
    except RefusedError as refused:
        return refused.response
    return Stream(
        services.reconciliation.export_csv(days.first_day, days.last_day),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"reconciliation-{days.first_day.isoformat()}-{days.last_day.isoformat()}.csv"),
    )
