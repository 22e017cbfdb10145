"""The Journeys pages: list, the journey drawn with its report (and the steps as CSV), create and
edit as YAML with the plan's changes, activate, pause and delete, history with diffs, and
simulate on a real customer.

Editors change journeys; viewers read them and simulate (which changes nothing). The router
checks every spec and names each problem's field; the editor shows it at its line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.deps import ChangeDep, EditorChangeDep, EditorDep, ServicesDep, ViewerDep
from metaconnect_console.journeys import report as tables
from metaconnect_console.journeys import service
from metaconnect_console.journeys.editing import NEW_JOURNEY, edited, editor
from metaconnect_console.journeys.graph import layout
from metaconnect_console.journeys.path import path_steps
from metaconnect_console.journeys.text import journey_yaml
from metaconnect_console.reports.tables import csv_text
from metaconnect_console.routes.diff import diff_lines
from metaconnect_console.routes.editor import fields_of, one
from metaconnect_console.routes.form import STATUSES, Problem, field_id, placed_by, refusal_errors
from metaconnect_console.routes.service import CustomerNotFound
from metaconnect_console.web import page

router = APIRouter(prefix="/journeys", tags=["journeys"])

Window = Annotated[str, Query(max_length=4)]


@router.get("", response_class=HTMLResponse)
async def list_journeys(
    request: Request,
    person: ViewerDep,
    services: ServicesDep,
    status: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    chosen = status if status in STATUSES else None
    listed = await service.journeys_page(services, person, status=chosen, after=after or None)
    return page(
        request, "journeys/list.html", person, section="journeys", page=listed, status=chosen, statuses=STATUSES
    )


@router.get("/new", response_class=HTMLResponse)
async def new_journey(request: Request, person: EditorDep) -> HTMLResponse:
    return editor(request, person, name=None, version=None, yaml_text=journey_yaml(NEW_JOURNEY))


@router.post("/new", response_class=HTMLResponse)
async def create_journey(request: Request, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await edited(request, person, services, name=None)


def _window(window: str, now: datetime) -> tuple[str, datetime, datetime]:
    chosen = window if window in tables.WINDOWS else tables.DEFAULT_WINDOW
    return chosen, now - timedelta(days=int(chosen)), now


@router.get("/{name}", response_class=HTMLResponse)
async def show_journey(
    request: Request, name: str, person: ViewerDep, services: ServicesDep, window: Window = tables.DEFAULT_WINDOW
) -> HTMLResponse:
    journey = await services.get(person, "router", service.journey_path(name))
    chosen, since, until = _window(window, datetime.now(UTC))
    report = await service.journey_report(services, person, name, since=since, until=until)
    return page(
        request,
        "journeys/detail.html",
        person,
        section="journeys",
        journey=journey,
        report=report,
        graph=layout(journey["spec"]["steps"], tables.by_step(report)),
        steps=tables.steps_table(report),
        window=chosen,
        windows=tables.WINDOWS,
        yaml=journey_yaml(journey["spec"]),
        percent=tables.percent,
        points=tables.points,
        interval=tables.interval,
    )


@router.get("/{name}/steps.csv", response_class=Response)
async def steps_csv(
    name: str, person: ViewerDep, services: ServicesDep, window: Window = tables.DEFAULT_WINDOW
) -> Response:
    chosen, since, until = _window(window, datetime.now(UTC))
    report = await service.journey_report(services, person, name, since=since, until=until)
    return Response(
        csv_text(tables.steps_table(report)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{tables.csv_name(name, chosen)}"'},
    )


@router.get("/{name}/edit", response_class=HTMLResponse)
async def edit_journey(request: Request, name: str, person: EditorDep, services: ServicesDep) -> HTMLResponse:
    journey = await services.get(person, "router", service.journey_path(name))
    return editor(request, person, name=name, version=journey["version"], yaml_text=journey_yaml(journey["spec"]))


@router.post("/{name}/edit", response_class=HTMLResponse)
async def save_journey(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await edited(request, person, services, name=name)


@router.post("/{name}/status", response_class=HTMLResponse)
async def change_status(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    fields = await fields_of(request)
    wanted = one(fields, "status")
    if wanted not in STATUSES:
        return _refused(request, person, "No such status.")
    journey = await services.get(person, "router", service.journey_path(name))
    try:
        spec = {**journey["spec"], "status": wanted}
        await service.put_journey(services, person, name, spec, version=one(fields, "version"))
    except Refused as refused:
        if refused.status != 412:
            raise
        return _changed_meanwhile(request, person, name)
    return RedirectResponse(f"/journeys/{name}", status_code=303)


@router.post("/{name}/delete", response_class=HTMLResponse)
async def delete_journey(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    await services.json(person, "DELETE", "router", service.journey_path(name))
    return RedirectResponse("/journeys", status_code=303)


@router.get("/{name}/history", response_class=HTMLResponse)
async def history(request: Request, name: str, person: ViewerDep, services: ServicesDep) -> HTMLResponse:
    versions = await services.get(person, "router", f"{service.journey_path(name)}/versions")
    changes = []
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        old = journey_yaml(older["spec"]) if older else ""
        changes.append((newer, diff_lines(old, journey_yaml(newer["spec"]))))
    return page(
        request, "journeys/history.html", person, section="journeys", name=name, current=versions[0], changes=changes
    )


@router.get("/{name}/simulate", response_class=HTMLResponse)
async def simulate_form(request: Request, name: str, person: ViewerDep, services: ServicesDep) -> HTMLResponse:
    journey = await services.get(person, "router", service.journey_path(name))
    entry = journey["spec"]["entry"]
    types = [t for t in entry.get("event_types") or () if "*" not in t]
    values = {
        "customer": "",
        "type": types[0] if types else "stage.changed",
        "properties": "{}",
        "stage": entry.get("stage") or "",
        "events": "",
    }
    return _simulation(request, person, journey, values, {})


@router.post("/{name}/simulate", response_class=HTMLResponse)
async def simulate(request: Request, name: str, person: ChangeDep, services: ServicesDep) -> HTMLResponse:
    journey = await services.get(person, "router", service.journey_path(name))
    fields = await fields_of(request)
    values = {k: one(fields, k) for k in ("customer", "type", "properties", "stage", "events")}
    errors: dict[str, list[Problem]] = {}
    properties = _json_object(values["properties"], "properties", errors)
    events = _scripted_events(values["events"], errors)
    if not values["customer"]:
        errors["customer"] = [Problem("customer", "missing", "name the customer: an id, cid:…, email:…, phone:…")]
    if errors:
        return _simulation(request, person, journey, values, errors, status_code=422)
    entry = {"type": values["type"], "properties": properties, "stage": values["stage"] or None}
    try:
        outcome, profile = await service.simulate(
            services, person, name=name, customer=values["customer"], entry=entry, events=events
        )
    except CustomerNotFound as missing:
        errors["customer"] = [Problem("customer", missing.rule, missing.message)]
        return _simulation(request, person, journey, values, errors, status_code=422)
    except Refused as refused:
        return _simulation(request, person, journey, values, _simulation_errors(refused), status_code=422)
    path = path_steps(outcome["steps"])
    return _simulation(request, person, journey, values, {}, outcome=outcome, path=path, profile=profile)


def _json_object(text: str, field: str, errors: dict[str, list[Problem]]) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        errors[field] = [Problem(field, "json_invalid", f"not JSON: {exc}")]
        return {}
    if not isinstance(value, dict):
        errors[field] = [Problem(field, "object", 'a JSON object, e.g. {"value": 30}')]
        return {}
    return value


def _scripted_events(text: str, errors: dict[str, list[Problem]]) -> list[Any]:
    """The events the customer sends after entering: a YAML (or JSON) list of {after, type, properties, stage}."""
    try:
        events = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError as exc:
        errors["events"] = [Problem("events", "yaml_syntax", f"not YAML: {getattr(exc, 'problem', None) or exc}")]
        return []
    if not isinstance(events, list):
        errors["events"] = [Problem("events", "list", "a list, e.g. - {after: P2D, type: visit.booked}")]
        return []
    return events


def _simulation_errors(refused: Refused) -> dict[str, list[Problem]]:
    def place(path: str) -> str:
        # The router names the posted fields (`entry.type`, `events.0.after`); the profile service names its ref.
        at = {"entry.type": "type", "entry.properties": "properties", "entry.stage": "stage"}.get(path)
        return at or ("events" if path.startswith("events") else "customer")

    return placed_by(refusal_errors(refused.body, refused.message), place)


def _simulation(
    request: Request,
    person: Person,
    journey: Mapping[str, Any],
    values: Mapping[str, str],
    errors: Mapping[str, list[Problem]],
    *,
    status_code: int = 200,
    **result: Any,
) -> HTMLResponse:
    return page(
        request,
        "journeys/simulate.html",
        person,
        status_code=status_code,
        section="journeys",
        journey=journey,
        values=values,
        errors=errors,
        fid=field_id,
        **result,
    )


def _refused(request: Request, person: Person, reason: str) -> HTMLResponse:
    return page(request, "error.html", person, status_code=400, title="Refused", reason=reason)


def _changed_meanwhile(request: Request, person: Person, name: str) -> HTMLResponse:
    reason = f"Someone changed journey {name} meanwhile. Reload the page to see their change, then try again."
    return page(request, "error.html", person, status_code=409, title="Changed meanwhile", reason=reason)
