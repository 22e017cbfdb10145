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
from metaconnect_console.routes.diff import YamlProblem, diff_lines, parse_spec_yaml, spec_yaml
from metaconnect_console.routes.explain import explain
from metaconnect_console.routes.form import (
    CATEGORIES,
    CHANNELS,
    STATUSES,
    TONES,
    Fields,
    Problem,
    field_id,
    form_of,
    new_spec,
    place_errors,
    spec_of,
    with_message_added,
    with_message_removed,
)
from metaconnect_console.web import page

router = APIRouter(prefix="/routes", tags=["routes"])

DEFAULT_SAMPLE = {"data": {}, "customer": {"first_name": "Ada", "locale": "en", "traits": {}}}
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
    return _editor(request, person, name=None, version=None, spec=new_spec())


@router.post("/new", response_class=HTMLResponse)
async def create_route(request: Request, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await _edited(request, person, services, name=None)


@router.post("/preview", response_class=HTMLResponse)
async def preview_draft(request: Request, person: ChangeDep, services: ServicesDep) -> HTMLResponse:
    """The preview of the form as it is now (htmx swaps it in as the editor types)."""
    fields = await _fields(request)
    sample, problem = _sample(fields)
    spec = _spec_from(fields)
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
    sample, problem = _sample(fields)
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
    return _editor(request, person, name=name, version=route["version"], spec=route["spec"])


@router.post("/{name}/edit", response_class=HTMLResponse)
async def save_route(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    return await _edited(request, person, services, name=name)


@router.post("/{name}/status", response_class=HTMLResponse)
async def change_status(request: Request, name: str, person: EditorChangeDep, services: ServicesDep) -> Response:
    fields = await _fields(request)
    wanted = _one(fields, "status")
    route = await services.get(person, "router", service.route_path(name))
    if wanted not in STATUSES:
        return _refused(request, person, "No such status.")
    if str(route["version"]) != _one(fields, "version"):
        return _changed_meanwhile(request, person, name, route["version"])
    spec = {**route["spec"], "status": wanted}
    await services.json(person, "PUT", "router", service.route_path(name), json=spec)
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
    fields = await _fields(request)
    versions = await services.get(person, "router", f"{service.route_path(name)}/versions")
    current = versions[0]
    if str(current["version"]) != _one(fields, "current"):
        return _changed_meanwhile(request, person, name, current["version"])
    target = next((v for v in versions if str(v["version"]) == _one(fields, "version")), None)
    if target is None:
        return _refused(request, person, "No such version.")
    # The texts, trigger and policy as they were; the status stays what it is now (rolling back
    # a live route's content must not switch it off, nor a paused one on).
    spec = {**target["spec"], "status": current["status"]}
    try:
        await services.json(person, "PUT", "router", service.route_path(name), json=spec)
    except Refused as refused:
        return _refused(request, person, f"The router refused version {target['version']}: {refused.message}")
    return RedirectResponse(f"/routes/{name}/history", status_code=303)


@router.get("/{name}/simulate", response_class=HTMLResponse)
async def simulate_form(request: Request, name: str, person: ViewerDep, services: ServicesDep) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    types = [t for t in route["spec"]["trigger"]["event_types"] if "*" not in t]
    values = {"customer": "", "type": types[0] if types else "", "channel": "web", "properties": "{}"}
    return _simulation(request, person, route, values, {})


@router.post("/{name}/simulate", response_class=HTMLResponse)
async def simulate(request: Request, name: str, person: ChangeDep, services: ServicesDep) -> HTMLResponse:
    route = await services.get(person, "router", service.route_path(name))
    fields = await _fields(request)
    values = {k: _one(fields, k) for k in ("customer", "type", "channel", "properties")}
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
            services, person, customer=values["customer"], event=event, route=route["spec"]
        )
    except service.CustomerNotFound as missing:
        errors["customer"] = [Problem("customer", missing.rule, missing.message)]
        return _simulation(request, person, route, values, errors, status_code=422)
    except Refused as refused:
        errors = _simulation_errors(refused)
        return _simulation(request, person, route, values, errors, status_code=422)
    return _simulation(request, person, route, values, {}, outcome=outcome, explained=explain(outcome), profile=profile)


def _simulation_errors(refused: Refused) -> dict[str, list[Problem]]:
    body = refused.body if isinstance(refused.body, dict) else {}
    placed: dict[str, list[Problem]] = {}
    for error in body.get("errors") or [
        {"field": "", "rule": body.get("error", "refused"), "message": refused.message}
    ]:
        path = str(error.get("field", ""))
        # The router names the posted event's fields (`event.type`); the profile service names its ref.
        at = next((f for f in ("type", "channel", "properties") if path.startswith(f"event.{f}")), "customer")
        placed.setdefault(at, []).append(Problem(path, str(error.get("rule")), str(error.get("message"))))
    return placed


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


async def _fields(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


def _one(fields: Fields, name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


def _sample(fields: Fields) -> tuple[dict[str, Any], str | None]:
    """The sample event data and customer a preview renders with; a problem with the JSON, if any."""
    sample: dict[str, Any] = json.loads(json.dumps(DEFAULT_SAMPLE))
    if first := _one(fields, "sample.first_name"):
        sample["customer"]["first_name"] = first
    text = _one(fields, "sample.data")
    if not text:
        return sample, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return sample, f"The sample data is not JSON ({exc}); previewed without it."
    if not isinstance(data, dict):
        return sample, 'The sample data is a JSON object, e.g. {"price": 12}; previewed without it.'
    sample["data"] = data
    return sample, None


def _spec_from(fields: Fields) -> dict[str, Any] | None:
    if _one(fields, "mode") == "yaml":
        try:
            return parse_spec_yaml((fields.get("spec_yaml") or [""])[0])
        except YamlProblem:
            return None
    return spec_of(fields)


async def _edited(request: Request, person: Person, services: ServicesDep, *, name: str | None) -> Response:
    fields = await _fields(request)
    action, mode, version = _one(fields, "action") or "save", _one(fields, "mode") or "form", _one(fields, "version")
    context: dict[str, Any] = {"name": name, "version": version or None, "fields": fields}
    if action.startswith("remove_message-") and action.removeprefix("remove_message-").isdigit():
        spec = with_message_removed(fields, int(action.removeprefix("remove_message-")))
        return _editor(request, person, spec=spec, **context)
    if action == "add_message":
        return _editor(request, person, spec=with_message_added(fields), **context)
    if mode == "yaml":
        try:
            spec = parse_spec_yaml((fields.get("spec_yaml") or [""])[0])
        except YamlProblem as unreadable:
            error = Problem("spec_yaml", "yaml_syntax", unreadable.message)
            yaml_text = (fields.get("spec_yaml") or [""])[0]
            return _editor(
                request,
                person,
                spec=None,
                mode="yaml",
                yaml_text=yaml_text,
                yaml_errors=[error],
                status_code=422,
                **context,
            )
        if action == "to_form":
            return _editor(request, person, spec=spec, **context)
    else:
        spec = spec_of(fields)
        if action == "to_yaml":
            return _editor(request, person, spec=spec, mode="yaml", **context)
    if action == "refresh":
        return _editor(request, person, spec=spec, mode=mode, **context)
    if action == "preview":
        sample, sample_problem = _sample(fields)
        previews = await service.preview(services, person, spec, sample)
        return _editor(
            request, person, spec=spec, mode=mode, previews=previews, sample_problem=sample_problem, **context
        )
    if action == "diff":
        try:
            plan = await services.json(person, "POST", "router", "/v1/routes/plan", json=spec)
        except Refused as refused:
            return _editor(request, person, spec=spec, mode=mode, refused=refused, status_code=422, **context)
        diff = diff_lines(spec_yaml(plan["current"]), spec_yaml(plan["proposed"]))
        return _editor(request, person, spec=spec, mode=mode, diff=diff, plan=plan, **context)
    # Save: create, or change the version this page was opened at (someone else's change is not overwritten).
    try:
        if name is None:
            saved = await services.json(person, "POST", "router", "/v1/routes", json=spec)
        else:
            plan = await services.json(person, "POST", "router", "/v1/routes/plan", json={**spec, "name": name})
            if version and str(plan["current_version"]) != version:
                return _editor(
                    request,
                    person,
                    spec=spec,
                    mode=mode,
                    top=f"Someone changed this route meanwhile (it is at version {plan['current_version']} now, "
                    f"you edited version {version}). Open it again to see their change; your text is still here.",
                    status_code=409,
                    **context,
                )
            saved = await services.json(person, "PUT", "router", service.route_path(name), json=spec)
    except Refused as refused:
        if refused.status not in (409, 412, 422):
            raise
        return _editor(request, person, spec=spec, mode=mode, refused=refused, status_code=422, **context)
    return RedirectResponse(f"/routes/{saved['name']}", status_code=303)


def _editor(
    request: Request,
    person: Person,
    *,
    name: str | None,
    version: Any,
    spec: Mapping[str, Any] | None,
    mode: str = "form",
    refused: Refused | None = None,
    yaml_text: str | None = None,
    yaml_errors: list[Problem] | None = None,
    top: str | None = None,
    fields: Fields | None = None,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    form = form_of(spec) if spec is not None else form_of(new_spec())
    body = refused.body if refused is not None and isinstance(refused.body, dict) else {}
    service_errors = body.get("errors") or []
    if refused is not None and not service_errors:
        top = refused.message if not body.get("message") else str(body["message"])
    if mode == "yaml":
        placed: dict[str, list[Problem]] = {"spec_yaml": yaml_errors or []}
        placed["spec_yaml"] += [
            Problem(str(e.get("field")), str(e.get("rule")), str(e.get("message"))) for e in service_errors
        ]
    else:
        placed = place_errors(service_errors, form.paths())
    given = fields or {}
    return page(
        request,
        "routes/edit.html",
        person,
        status_code=status_code,
        section="routes",
        name=name,
        version=version,
        mode=mode,
        form=form,
        errors=placed,
        error_count=sum(len(v) for v in placed.values()),
        top=top,
        yaml_text=yaml_text if yaml_text is not None else spec_yaml(spec),
        sample_data=_one(given, "sample.data") or "{}",
        sample_first_name=_one(given, "sample.first_name") or "Ada",
        tones=TONES,
        channels=CHANNELS,
        statuses=STATUSES,
        categories=CATEGORIES,
        fid=field_id,
        **extra,
    )


def _refused(request: Request, person: Person, reason: str) -> HTMLResponse:
    return page(request, "error.html", person, status_code=400, title="Refused", reason=reason)


def _changed_meanwhile(request: Request, person: Person, name: str, version: int) -> HTMLResponse:
    reason = f"Someone changed route {name} meanwhile (it is at version {version} now). Reload the page and try again."
    return page(request, "error.html", person, status_code=409, title="Changed meanwhile", reason=reason)
