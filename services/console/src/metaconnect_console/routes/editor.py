"""The route editor's page: one form (or its YAML) posted with an action — save, preview, show
changes, add or remove a message, switch between form and YAML — and rendered again with the
router's errors at their inputs until it saves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.deps import ServicesDep
from metaconnect_console.routes import service
from metaconnect_console.routes.diff import YamlProblem, diff_lines, parse_spec_yaml, spec_yaml
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

DEFAULT_SAMPLE = {"data": {}, "customer": {"first_name": "Ada", "locale": "en", "traits": {}}}


async def fields_of(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


def one(fields: Fields, name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


def sample_of(fields: Fields) -> tuple[dict[str, Any], str | None]:
    """The sample event data and customer a preview renders with; a problem with the JSON, if any."""
    sample: dict[str, Any] = json.loads(json.dumps(DEFAULT_SAMPLE))
    if first := one(fields, "sample.first_name"):
        sample["customer"]["first_name"] = first
    text = one(fields, "sample.data")
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


def spec_from(fields: Fields) -> dict[str, Any] | None:
    if one(fields, "mode") == "yaml":
        try:
            return parse_spec_yaml((fields.get("spec_yaml") or [""])[0])
        except YamlProblem:
            return None
    return spec_of(fields)


async def edited(request: Request, person: Person, services: ServicesDep, *, name: str | None) -> Response:
    fields = await fields_of(request)
    action, mode, version = one(fields, "action") or "save", one(fields, "mode") or "form", one(fields, "version")
    context: dict[str, Any] = {"name": name, "version": version or None, "fields": fields}
    if action.startswith("remove_message-") and action.removeprefix("remove_message-").isdigit():
        spec = with_message_removed(fields, int(action.removeprefix("remove_message-")))
        return editor(request, person, spec=spec, **context)
    if action == "add_message":
        return editor(request, person, spec=with_message_added(fields), **context)
    if mode == "yaml":
        try:
            spec = parse_spec_yaml((fields.get("spec_yaml") or [""])[0])
        except YamlProblem as unreadable:
            error = Problem("spec_yaml", "yaml_syntax", unreadable.message)
            yaml_text = (fields.get("spec_yaml") or [""])[0]
            return editor(
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
            return editor(request, person, spec=spec, **context)
    else:
        spec = spec_of(fields)
        if action == "to_yaml":
            return editor(request, person, spec=spec, mode="yaml", **context)
    if action == "refresh":
        return editor(request, person, spec=spec, mode=mode, **context)
    if action == "preview":
        sample, sample_problem = sample_of(fields)
        previews = await service.preview(services, person, spec, sample)
        return editor(
            request, person, spec=spec, mode=mode, previews=previews, sample_problem=sample_problem, **context
        )
    if action == "diff":
        try:
            plan = await services.json(person, "POST", "router", "/v1/routes/plan", json=spec)
        except Refused as refused:
            return editor(request, person, spec=spec, mode=mode, refused=refused, status_code=422, **context)
        diff = diff_lines(spec_yaml(plan["current"]), spec_yaml(plan["proposed"]))
        return editor(request, person, spec=spec, mode=mode, diff=diff, plan=plan, **context)
    # Save: create, or change the version this page was opened at (someone else's change is not overwritten).
    try:
        if name is None:
            saved = await services.json(person, "POST", "router", "/v1/routes", json=spec)
        else:
            saved = await service.put_route(services, person, name, spec, version=version or None)
    except Refused as refused:
        if refused.status == 412:
            top = (
                f"Someone changed this route meanwhile (you edited version {version}). Nothing was saved; "
                "your text is still here. Open the route in another tab to see their change."
            )
            return editor(request, person, spec=spec, mode=mode, top=top, status_code=409, **context)
        if refused.status not in (409, 422):
            raise
        return editor(request, person, spec=spec, mode=mode, refused=refused, status_code=422, **context)
    return RedirectResponse(f"/routes/{saved['name']}", status_code=303)


def editor(
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
        sample_data=one(given, "sample.data") or "{}",
        sample_first_name=one(given, "sample.first_name") or "Ada",
        tones=TONES,
        channels=CHANNELS,
        statuses=STATUSES,
        categories=CATEGORIES,
        fid=field_id,
        **extra,
    )
