"""The customer pages (viewer and up): search by any identifier, one page per customer, its lists
page by page, and for admins the export and the erasure.

Each list (timeline, decisions, deliveries) has its own URL with its cursor: a plain link loads
it as a page, htmx swaps just the section in place."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.customers import service
from metaconnect_console.customers.lookup import MAX_QUERY, candidate_refs
from metaconnect_console.customers.masking import mask, mask_ref
from metaconnect_console.customers.personality import plain_personality
from metaconnect_console.customers.presenting import compact_json, consent_rows, decision_lines, trace_url
from metaconnect_console.deps import AdminChangeDep, AdminDep, ServicesDep, ViewerDep, console_state
from metaconnect_console.journeys import service as journeys
from metaconnect_console.progress import service as progress
from metaconnect_console.web import page

log = logging.getLogger(__name__)
router = APIRouter(prefix="/customers", tags=["customers"])

Cursor = Annotated[str | None, Query(max_length=200)]


def _helpers(request: Request) -> dict[str, Any]:
    template = console_state(request).settings.trace_url_template
    return {
        "section": "customers",
        "mask": mask,
        "trace": lambda trace_id: trace_url(template, trace_id),
        "as_json": compact_json,
        "decision_lines": decision_lines,
    }


def _section(request: Request, person: Person, name: str, customer_id: uuid.UUID, **context: Any) -> HTMLResponse:
    """The section alone for htmx, else a page around it (a link opened in a new tab still works)."""
    fragment = f"customers/_{name}.html"
    template = fragment if request.headers.get("HX-Request") else "customers/list.html"
    return page(request, template, person, customer_id=customer_id, fragment=fragment, **_helpers(request), **context)


def _no_such_customer(request: Request, person: Person) -> HTMLResponse:
    reason = "No customer has this id: it is unknown, or the customer was erased."
    return page(request, "error.html", person, status_code=404, title="No such customer", reason=reason)


def _refused(request: Request, person: Person, exc: Refused) -> HTMLResponse:
    """A page the service would not give (a cursor it never made): its rule, not a server error."""
    if exc.status == 404:
        return _no_such_customer(request, person)
    reason = "; ".join(service.problems(exc))
    status = exc.status if exc.status in (403, 422) else 400
    return page(request, "error.html", person, status_code=status, title="Refused", reason=reason)


@router.get("", response_class=HTMLResponse)
async def search(
    request: Request,
    person: ViewerDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
    erased: bool = False,
) -> Response:
    found = await service.find(services, person, q) if q.strip() else None
    if found is not None and len(found.customers) == 1:
        return RedirectResponse(f"/customers/{found.customers[0]['id']}", status_code=303)
    return page(
        request,
        "customers/search.html",
        person,
        query=q,
        shown_query=" or ".join(mask_ref(ref) for ref in candidate_refs(q)) or mask_ref(q.strip()),
        found=found,
        erased=erased,
        **_helpers(request),
    )


@router.get("/{customer_id}", response_class=HTMLResponse)
async def customer(request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep) -> Response:
    try:
        found = await service.profile(services, person, customer_id)
    except Refused as exc:
        if exc.status != 404:
            raise
        return _no_such_customer(request, person)
    if str(found["id"]) != str(customer_id):  # a merged customer's old id: the survivor's page
        return RedirectResponse(f"/customers/{found['id']}", status_code=303)
    view = await service.customer(services, person, found)
    walks = await journeys.walks_of(services, person, customer_id)
    report = await progress.progress(services, person, view.profile, walks=walks)
    return page(
        request,
        "customers/customer.html",
        person,
        customer_id=customer_id,
        profile=view.profile,
        personality=plain_personality(view.personality),
        consent=consent_rows(view.profile.get("consent") or {}),
        timeline=view.timeline,
        decisions=view.decisions,
        deliveries=view.deliveries,
        inbox=view.inbox,
        walks=walks,
        progress=report,
        decided=_decided_events(view.decisions.items),
        delivered={str(d["id"]): d["trace_id"] for d in view.deliveries.items if d.get("trace_id")},
        **_helpers(request),
    )


def _decided_events(decisions: list[dict[str, Any]]) -> dict[str, str]:
    """event id -> the trace id of the decision made on it: a timeline entry links to its trace."""
    return {str(d["event_id"]): d["trace_id"] for d in decisions if d.get("trace_id")}


@router.get("/{customer_id}/timeline", response_class=HTMLResponse)
async def timeline(
    request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep, before: Cursor = None
) -> HTMLResponse:
    try:
        listing = await service.timeline(services, person, customer_id, before)
    except Refused as exc:
        return _refused(request, person, exc)
    return _section(
        request, person, "timeline", customer_id, timeline=listing, decided={}, current=before, title="Timeline"
    )


@router.get("/{customer_id}/decisions", response_class=HTMLResponse)
async def decisions(
    request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep, after: Cursor = None
) -> HTMLResponse:
    try:
        listing = await service.decisions(services, person, customer_id, after)
    except Refused as exc:
        return _refused(request, person, exc)
    return _section(request, person, "decisions", customer_id, decisions=listing, current=after, title="Decisions")


@router.get("/{customer_id}/deliveries", response_class=HTMLResponse)
async def deliveries(
    request: Request, customer_id: uuid.UUID, person: ViewerDep, services: ServicesDep, after: Cursor = None
) -> HTMLResponse:
    try:
        listing = await service.deliveries(services, person, customer_id, after)
    except Refused as exc:
        return _refused(request, person, exc)
    return _section(request, person, "deliveries", customer_id, deliveries=listing, current=after, title="Deliveries")


@router.get("/{customer_id}/export")
async def export(request: Request, customer_id: uuid.UUID, person: AdminDep, services: ServicesDep) -> Response:
    try:
        answer = await service.export(services, person, customer_id)
    except Refused as exc:
        if exc.status != 404:
            raise
        return _no_such_customer(request, person)
    log.info("customer exported", extra={"customer_id": str(customer_id), "by": person.email or person.subject})
    disposition = answer.headers.get("content-disposition") or f'attachment; filename="profile-{customer_id}.json"'
    return Response(
        answer.content,
        media_type="application/json",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


@router.post("/{customer_id}/erase")
async def erase(request: Request, customer_id: uuid.UUID, person: AdminChangeDep, services: ServicesDep) -> Response:
    try:
        await service.erase(services, person, customer_id)
    except Refused as exc:
        if exc.status != 404:
            raise
        return _no_such_customer(request, person)
    log.info("customer erased", extra={"customer_id": str(customer_id), "by": person.email or person.subject})
    return RedirectResponse("/customers?erased=true", status_code=303)
