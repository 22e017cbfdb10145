"""The customer's progress report exported (viewer and up) as one HTML page and one PDF page, and
the Lifecycle page (read-only: the lifecycle is changed as code, `metaconnect lifecycle apply`).

The exports carry what the customer page shows, and the logs say that a report was exported,
never whose."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.customers import service as customers
from metaconnect_console.deps import ServicesDep, ViewerDep, console_state
from metaconnect_console.progress import service
from metaconnect_console.progress.lifecycle import stage_rows, version_changes
from metaconnect_console.progress.pdf import progress_pdf
from metaconnect_console.progress.report import ProgressReport
from metaconnect_console.security import HEADERS
from metaconnect_console.web import page

log = logging.getLogger(__name__)
router = APIRouter(tags=["progress"])

# The export's own stylesheet, inside the file so it stands alone; the console's CSP allows it by hash.
PRINT_CSS: Final = (
    "@page{size:A4;margin:14mm}"
    "body{font:10pt/1.4 system-ui,sans-serif;color:#111;margin:0 auto;max-width:180mm}"
    "h1{font-size:15pt;margin:0 0 2mm}h2{font-size:11.5pt;margin:4mm 0 1mm;border-bottom:1px solid #999}"
    "p,ul,ol{margin:0 0 1.5mm}ul,ol{padding-left:5mm}li{margin:0}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:0.6mm 2mm 0.6mm 0;vertical-align:top}"
    "th{font-weight:600;border-bottom:1px solid #bbb}.hint{color:#444;font-size:9pt}"
)
PRINT_CSS_HASH: Final = base64.b64encode(hashlib.sha256(PRINT_CSS.encode()).digest()).decode()
EXPORT_CSP: Final = HEADERS["Content-Security-Policy"].replace(
    "style-src 'self'", f"style-src 'self' 'sha256-{PRINT_CSS_HASH}'"
)
"""The console's policy (no script but its own files, and the export has none), plus this one stylesheet."""
FILE_CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{PRINT_CSS_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""The same, inside the file: opened from a disk it still runs nothing."""


def _file_name(customer_id: uuid.UUID, suffix: str) -> str:
    return f"metaconnect-progress-{customer_id}.{suffix}"


async def _report(request: Request, person: Person, services: ServicesDep, customer_id: uuid.UUID) -> ProgressReport:
    profile = await customers.profile(services, person, customer_id)
    return await service.progress(services, person, profile)


async def _export(
    request: Request, person: Person, services: ServicesDep, customer_id: uuid.UUID, suffix: str
) -> ProgressReport | Response:
    try:
        report = await _report(request, person, services, customer_id)
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
    html = (
        console_state(request)
        .templates.get_template("progress/export.html")
        .render(report=report, css=Markup(PRINT_CSS), csp=FILE_CSP)
    )
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
