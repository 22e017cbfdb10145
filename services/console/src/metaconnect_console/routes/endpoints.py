"""The Routes pages: list, create and edit (a form, or YAML), preview, activate and pause,
history with diffs and roll back, and simulate on a real customer.

Editors change routes; viewers read them, preview and simulate (both change nothing). The router
checks every spec and names each problem's field; the page shows it at that input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.deps import ChangeDep, EditorChangeDep, EditorDep, ServicesDep, ViewerDep
from metaconnect_console.routes import service
from metaconnect_console.routes.diff import diff_lines, spec_yaml
from metaconnect_console.routes.editor import edited, editor, fields_of, one, sample_of, spec_from
from metaconnect_console.routes.explain import explain
from metaconnect_console.routes.form import (
    STATUSES,
    Problem,
    field_id,
    new_spec,
    placed_by,
    refusal_errors,
)
from metaconnect_console.web import page

router = APIRouter(prefix="/routes", tags=["routes"])

EVENT_CHANNELS = ("web", "in_app", "push", "email", "sms", "whatsapp", "store", "call_center")


@router.get("", response_class=HTMLResponse)
async def list_routes(
    request: Request,
    person: ViewerDep,
    services: ServicesDep,
    status: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=63)] = None,
) -> HTMLResponse:
    chosen = status if status in STATUSES else None
    listed = await service.routes_page(services, person, status=chosen, after=after or None)
    return page(request, "routes/list.html", person, section="routes", page=listed, status=chosen, statuses=STATUSES)


@router.get("/new", response_class=HTMLResponse)
async def new_route(request: Request, person: EditorDep) -> HTMLResponse:
    return editor(request, person, name=None, version=None, spec=new_spec())


@router.post("/new", response_class=HTMLResponse)
async def create_route(request: Request, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await edited(request, person, services, name=None)


@router.post("/preview", response_class=HTMLResponse)
async def preview_draft(request: Request, person: ChangeDep, services: ServicesDep) -> HTMLResponse:
    """The preview of the form as it is now (htmx swaps it in as the editor types)."""
    fields = await fields_of(request)
    sample, problem = sample_of(fields)
    spec = spec_from(fields)
    previews = await service.preview(services, person, spec, sample) if spec is not None else []
    return page(request, "routes/_preview.html", person, previews=previews, sample_problem=problem)


@router.get("/{name}", response_class=HTMLResponse)
async def show_route(
    request: Request,
    name: str,
    person: ViewerDep,
    services: ServicesDep,
    data: Annotated[str | None, Query(max_length=20_000)] = None,
    first_name: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    fields: dict[str, list[str]] = {"sample.data": [data or "{}"], "sample.first_name": [first_name or "Ada"]}
    sample, problem = sample_of(fields)
    previews = await service.preview(services, person, route["spec"], sample)
    return page(
        request,
        "routes/detail.html",
        person,
        section="routes",
        route=route,
        yaml=spec_yaml(route["spec"]),
        previews=previews,
        sample_data=fields["sample.data"][0],
        sample_first_name=fields["sample.first_name"][0],
        sample_problem=problem,
    )


@router.get("/{name}/edit", response_class=HTMLResponse)
async def edit_route(request: Request, name: str, person: EditorDep, services: ServicesDep) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    return editor(request, person, name=name, version=route["version"], spec=route["spec"])


@router.post("/{name}/edit", response_class=HTMLResponse)
async def save_route(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await edited(request, person, services, name=name)


@router.post("/{name}/status", response_class=HTMLResponse)
async def change_status(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    fields = await fields_of(request)
    wanted = one(fields, "status")
    route = await services.get(person, "router", service.route_path(name))
    if wanted not in STATUSES:
        return _refused(request, person, "No such status.")
    spec = {**route["spec"], "status": wanted}
    try:
        await service.put_route(services, person, name, spec, version=one(fields, "version"))
    except Refused as refused:
        if refused.status != 412:
            raise
        return _changed_meanwhile(request, person, name)
    return RedirectResponse(f"/routes/{name}", status_code=303)


@router.get("/{name}/history", response_class=HTMLResponse)
async def history(
    request: Request,
    name: str,
    person: ViewerDep,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    versions = await services.get(person, "router", f"{service.route_path(name)}/versions")
    current = versions[0]
    shown = next((v for v in versions if v["version"] == version), None) if version else None
    changes = []
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        old = spec_yaml(older["spec"]) if older else ""
        changes.append((newer, diff_lines(old, spec_yaml(newer["spec"]))))
    against_current = diff_lines(spec_yaml(current["spec"]), spec_yaml(shown["spec"])) if shown else None
    return page(
        request,
        "routes/history.html",
        person,
        section="routes",
        name=name,
        current=current,
        changes=changes,
        shown=shown,
        against_current=against_current,
    )


@router.post("/{name}/rollback", response_class=HTMLResponse)
async def roll_back(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    fields = await fields_of(request)
    versions = await services.get(person, "router", f"{service.route_path(name)}/versions")
    current = versions[0]
    target = next((v for v in versions if str(v["version"]) == one(fields, "version")), None)
    if target is None:
        return _refused(request, person, "No such version.")
    # The texts, trigger and policy as they were; the status stays what it is now (rolling back
    # a live route's content must not switch it off, nor a paused one on).
    spec = {**target["spec"], "status": current["status"]}
    try:
        await service.put_route(services, person, name, spec, version=one(fields, "current"))
    except Refused as refused:
        if refused.status == 412:
            return _changed_meanwhile(request, person, name)
        return _refused(request, person, f"The router refused version {target['version']}: {refused.message}")
    return RedirectResponse(f"/routes/{name}/history", status_code=303)


@router.get("/{name}/simulate", response_class=HTMLResponse)
async def simulate_form(request: Request, name: str, person: ViewerDep, services: ServicesDep) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    types = [t for t in route["spec"]["trigger"]["event_types"] if "*" not in t]
    values = {
        "customer": "",
        "type": types[0] if types else "",
        "channel": "web",
        "properties": "{}",
        "as_active": "yes",
    }
    return _simulation(request, person, route, values, {})


@router.post("/{name}/simulate", response_class=HTMLResponse)
async def simulate(request: Request, name: str, person: ChangeDep, services: ServicesDep) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    fields = await fields_of(request)
    values = {k: one(fields, k) for k in ("customer", "type", "channel", "properties", "as_active")}
    errors: dict[str, list[Problem]] = {}
    properties: Any = None
    try:
        properties = json.loads(values["properties"] or "{}")
    except ValueError as exc:
        errors["properties"] = [Problem("properties", "json_invalid", f"not JSON: {exc}")]
    if properties is not None and not isinstance(properties, dict):
        errors["properties"] = [Problem("properties", "object", 'a JSON object, e.g. {"value": 30}')]
    if not values["customer"]:
        errors["customer"] = [Problem("customer", "missing", "name the customer: an id, cid:…, email:…, phone:…")]
    if errors:
        return _simulation(request, person, route, values, errors, status_code=422)
    event = {"type": values["type"], "channel": values["channel"], "properties": properties}
    try:
        outcome, profile = await service.simulate(
            services,
            person,
            customer=values["customer"],
            event=event,
            # Ticked: this route decides as if it were active (a draft or paused one too); else the live routes do.
            route=route["spec"] if values["as_active"] else None,
        )
    except service.CustomerNotFound as missing:
        errors["customer"] = [Problem("customer", missing.rule, missing.message)]
        return _simulation(request, person, route, values, errors, status_code=422)
    except Refused as refused:
        errors = _simulation_errors(refused)
        return _simulation(request, person, route, values, errors, status_code=422)
    return _simulation(request, person, route, values, {}, outcome=outcome, explained=explain(outcome), profile=profile)


def _simulation_errors(refused: Refused) -> dict[str, list[Problem]]:
    def place(path: str) -> str:
        # The router names the posted event's fields (`event.type`); the profile service names its ref.
        return next((f for f in ("type", "channel", "properties") if path.startswith(f"event.{f}")), "customer")

    return placed_by(refusal_errors(refused.body, refused.message), place)


def _simulation(
    request: Request,
    person: Person,
    route: Mapping[str, Any],
    values: Mapping[str, str],
    errors: Mapping[str, list[Problem]],
    *,
    status_code: int = 200,
    **result: Any,
) -> HTMLResponse:
    return page(
        request,
        "routes/simulate.html",
        person,
        status_code=status_code,
        section="routes",
        route=route,
        values=values,
        errors=errors,
        channels=EVENT_CHANNELS,
        fid=field_id,
        **result,
    )


def _refused(request: Request, person: Person, reason: str) -> HTMLResponse:
    return page(request, "error.html", person, status_code=400, title="Refused", reason=reason)


def _changed_meanwhile(request: Request, person: Person, name: str) -> HTMLResponse:
    reason = f"Someone changed route {name} meanwhile. Reload the page to see their change, then try again."
    return page(request, "error.html", person, status_code=409, title="Changed meanwhile", reason=reason)
