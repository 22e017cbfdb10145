"""The Reports page (viewer): every report as a chart with its table, and each as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.deps import ServicesDep, ViewerDep
from metaconnect_console.reports import service
from metaconnect_console.reports.service import COHORTS, ENGAGEMENT_GROUPS, PERIODS, Filters
from metaconnect_console.reports.tables import csv_text, shown
from metaconnect_console.web import page

router = APIRouter(tags=["reports"])

# The services' query parameters, as the form names them.
_FIELDS = {
    "since": "since",
    "until": "until",
    "route": "route",
    "period": "period",
    "interval": "period",
    "group_by": "engagement_by",
    "cohort": "cohort",
}


def _filters(
    period: Annotated[str, Query(max_length=16)] = "day",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    route: Annotated[str, Query(max_length=128)] = "",
    engagement_by: Annotated[str, Query(max_length=16)] = "route",
    cohort: Annotated[str, Query(max_length=16)] = "week",
) -> Filters:
    return Filters(
        period=period,
        since=since.strip(),
        until=until.strip(),
        route=route.strip(),
        engagement_by=engagement_by,
        cohort=cohort,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


def field_errors(refused: Refused) -> dict[str, str]:
    """A service's 422 as messages by form field (the service's field and rule named in each)."""
    body = refused.body if isinstance(refused.body, dict) else {}
    errors: dict[str, str] = {}
    for e in body.get("errors") or []:
        name = str(e.get("field", "")).removeprefix("query.")
        field = _FIELDS.get(name, "form")
        errors.setdefault(field, f"{e.get('message', 'invalid')} ({e.get('rule', 'invalid')})")
    if not errors:
        errors["form"] = refused.message
    return errors


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    person: ViewerDep,
    services: ServicesDep,
    filters: FiltersDep,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "filters": filters,
        "periods": PERIODS,
        "engagement_groups": ENGAGEMENT_GROUPS,
        "cohorts": COHORTS,
        "sections": [],
        "errors": {},
        "shown": shown,
    }
    try:
        context["sections"] = await service.every_report(services, person, filters)
    except Refused as refused:
        if refused.status != 422:
            raise
        context["errors"] = field_errors(refused)
        return page(request, "reports/index.html", person, section="reports", status_code=422, **context)
    return page(request, "reports/index.html", person, section="reports", **context)


@router.get("/reports/{name}.csv", response_class=Response)
async def report_csv(
    name: str,
    person: ViewerDep,
    services: ServicesDep,
    filters: FiltersDep,
) -> Response:
    section = await service.one_report(services, person, filters, name)
    if section is None:
        return Response("No such report.\n", status_code=404, media_type="text/plain")
    return Response(
        csv_text(section.table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{csv_filename(name, filters)}"'},
    )


def csv_filename(name: str, filters: Filters) -> str:
    """metaconnect-<report>[-<route>]-<since>-<until>.csv, only characters safe in a header and a file name."""
    per_period = name in ("decisions", "engagement", "funnel-entries")
    route = "" if name.startswith("funnel-") else filters.route
    parts = ["metaconnect", name, route, filters.period if per_period else ""]
    parts += [filters.since, filters.until]
    text = "-".join(p for p in parts if p)
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text) + ".csv"
