"""The customer's progress report exported (viewer and up) as one HTML page and one PDF page, and
the Lifecycle page (read-only: the lifecycle is changed as code, `metaconnect lifecycle apply`).

The exports carry what the customer page shows, and the logs say that a report was exported,
never whose."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.customers import service as customers
from metaconnect_console.deps import ServicesDep, ViewerDep, console_state
from metaconnect_console.progress import service
from metaconnect_console.progress.document import EXPORT_CSP, export_html
from metaconnect_console.progress.lifecycle import stage_rows, version_changes
from metaconnect_console.progress.pdf import progress_pdf
from metaconnect_console.progress.report import ProgressReport
from metaconnect_console.web import page

log = logging.getLogger(__name__)
router = APIRouter(tags=["progress"])


def _file_name(customer_id: uuid.UUID, suffix: str) -> str:
    return f"metaconnect-progress-{customer_id}.{suffix}"


async def _export(
    request: Request, person: Person, services: ServicesDep, customer_id: uuid.UUID, suffix: str
) -> ProgressReport | Response:
    """The customer's report, or the page to answer instead (no such customer; a merged one's survivor)."""
    try:
        report = await service.progress(services, person, await customers.profile(services, person, customer_id))
    except Refused as exc:
        if exc.status != 404:
            raise
        reason = "No customer has this id: it is unknown, or the customer was erased."
        return page(request, "error.html", person, status_code=404, title="No such customer", reason=reason)
    if report.customer_id != str(customer_id):  # a merged customer's old id: the survivor's report
        return RedirectResponse(f"/customers/{report.customer_id}/progress.{suffix}", status_code=303)
    log.info("progress report exported", extra={"format": suffix, "role": person.role.value})
    return report


@router.get("/customers/{customer_id}/progress.html", response_class=HTMLResponse)
async def progress_html(request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep) -> Response:
    report = await _export(request, person, services, customer_id, "html")
    if isinstance(report, Response):
        return report
    html = export_html(console_state(request).templates, report)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": EXPORT_CSP,
            "Content-Disposition": f'attachment; filename="{_file_name(customer_id, "html")}"',
        },
    )


@router.get("/customers/{customer_id}/progress.pdf", response_class=Response)
async def progress_pdf_file(
    request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep
) -> Response:
    report = await _export(request, person, services, customer_id, "pdf")
    if isinstance(report, Response):
        return report
    return Response(
        progress_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_file_name(customer_id, "pdf")}"'},
    )


@router.get("/lifecycle", response_class=HTMLResponse)
async def lifecycle_page(request: Request, person: ViewerDep, services: ServicesDep) -> HTMLResponse:
    current, versions = await service.lifecycle(services, person)
    return page(
        request,
        "progress/lifecycle.html",
        person,
        section="reports",
        current=current,
        stages=stage_rows(current["spec"]) if current else [],
        changes=version_changes(versions),
    )
