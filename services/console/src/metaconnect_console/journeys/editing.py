"""The journey editor's page: the spec as YAML, posted with an action — save or show the plan's
changes — and rendered again with the router's problems at their lines until it saves."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.api import Refused, Services
from metaconnect_console.auth.service import Person
from metaconnect_console.journeys import service
from metaconnect_console.journeys.text import annotated, journey_yaml, near_problems, parse_journey_yaml
from metaconnect_console.routes.diff import YamlProblem, diff_lines
from metaconnect_console.routes.editor import fields_of, one
from metaconnect_console.routes.form import Problem, field_id
from metaconnect_console.web import page

NEW_JOURNEY: Final[dict[str, Any]] = {
    "name": "new-journey",
    "description": "Welcome new leads; remind them once if they book no visit within a week.",
    "status": "draft",
    "entry": {"event_types": ["lead.created"]},
    "goals": [{"name": "visit-booked", "event_types": ["visit.booked"]}],
    "steps": [
        {
            "id": "welcome",
            "type": "send",
            "message": {
                "id": "welcome",
                "channels": ["push", "email"],
                "variants": {
                    "neutral": {
                        "push": {"en": {"title": "Welcome", "body": "Book a visit in one tap."}},
                        "email": {"en": {"subject": "Welcome", "body": "Book a visit any day."}},
                    }
                },
            },
        },
        {
            "id": "wait-for-booking",
            "type": "wait",
            "event": {"event_types": ["visit.booked"], "timeout": "P7D", "on_timeout": "remind"},
        },
        {"id": "booked", "type": "exit", "reason": "booked"},
        {
            "id": "remind",
            "type": "send",
            "message": {
                "id": "remind",
                "channels": ["push"],
                "variants": {
                    "neutral": {"push": {"en": {"title": "Still curious?", "body": "Visit us this weekend."}}}
                },
            },
        },
    ],
}


async def edited(request: Request, person: Person, services: Services, *, name: str | None) -> Response:
    fields = await fields_of(request)
    text = (fields.get("spec_yaml") or [""])[0]
    action, version = one(fields, "action") or "save", one(fields, "version") or None
    context: dict[str, Any] = {"name": name, "version": version, "yaml_text": text}
    try:
        spec = parse_journey_yaml(text)
    except YamlProblem as unreadable:
        return editor(request, person, problems=[Problem("", "yaml_syntax", unreadable.message)], **context)
    if action == "diff":
        try:
            plan = await services.json(person, "POST", "router", "/v1/journeys/plan", json=spec)
        except Refused as refused:
            return editor(request, person, refused=refused, **context)
        diff = diff_lines(journey_yaml(plan["current"]), journey_yaml(plan["proposed"]))
        return editor(request, person, diff=diff, plan=plan, **context)
    # Save: create, or change the version this page was opened at (someone else's change is not overwritten).
    try:
        if name is None:
            saved = await services.json(person, "POST", "router", "/v1/journeys", json=spec)
        else:
            saved = await service.put_journey(services, person, name, spec, version=version)
    except Refused as refused:
        if refused.status == 412:
            top = (
                f"Someone changed this journey meanwhile (you edited version {version}). Nothing was saved; "
                "your text is still here. Open the journey in another tab to see their change."
            )
            return editor(request, person, top=top, status_code=409, **context)
        if refused.status in (403, 404):
            raise
        return editor(request, person, refused=refused, **context)
    return RedirectResponse(f"/journeys/{saved['name']}", status_code=303)


def editor(
    request: Request,
    person: Person,
    *,
    name: str | None,
    version: Any,
    yaml_text: str,
    refused: Refused | None = None,
    problems: list[Problem] | None = None,
    top: str | None = None,
    status_code: int | None = None,
    **extra: Any,
) -> HTMLResponse:
    placed = list(problems or [])
    body = refused.body if refused is not None and isinstance(refused.body, dict) else {}
    errors = body.get("errors") or []
    placed += [Problem(str(e.get("field")), str(e.get("rule")), str(e.get("message"))) for e in errors]
    if refused is not None and not errors:
        top = str(body.get("message") or refused.message)
    lines, unplaced = annotated(yaml_text, [p for p in placed if p.field])
    unplaced += [p for p in placed if not p.field]
    failed = bool(placed) or top is not None
    return page(
        request,
        "journeys/edit.html",
        person,
        status_code=status_code or (422 if failed else 200),
        section="journeys",
        name=name,
        version=version,
        yaml_text=yaml_text,
        problems=placed,
        lines=near_problems(lines),
        unplaced=unplaced,
        top=top,
        fid=field_id,
        **extra,
    )
