"""Rendering pages: one Jinja2 environment (autoescaped), the person and CSRF token in every page."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from metaconnect_console.auth.service import Person
from metaconnect_console.deps import CSRF_FIELD, CSRF_HEADER, console_state

TEMPLATES = str(files("metaconnect_console") / "templates")


def templates() -> Jinja2Templates:
    # `.html` templates are autoescaped: every value a person authored (route names, message
    # texts, traits) reaches the page as text, never as markup.
    environment = Jinja2Templates(directory=TEMPLATES)
    environment.env.globals |= {"CSRF_FIELD": CSRF_FIELD, "CSRF_HEADER": CSRF_HEADER}
    return environment


def page(
    request: Request, template: str, person: Person | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    state = console_state(request)
    return state.templates.TemplateResponse(
        request,
        template,
        {"person": person, "settings": state.settings, **context},
        status_code=status_code,
    )
