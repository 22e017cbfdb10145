"""The console's typed state and the dependency aliases its pages use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from metaconnect_common.auth import Role
from metaconnect_common.db import ping
from metaconnect_common.http import ReadinessCheck
from metaconnect_common.state import ServiceState, state_dependency
from metaconnect_console.api import Services
from metaconnect_console.auth.service import Person, SignIns, csrf_ok
from metaconnect_console.config import ConsoleSettings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, kw_only=True)
class ConsoleState(ServiceState):
    settings: ConsoleSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    services: Services
    sign_ins: SignIns
    templates: Jinja2Templates

    @property
    def cookie_name(self) -> str:
        # `__Host-`: the browser keeps it to this host and path, and only over https.
        return "__Host-mc_console" if self.settings.secure_cookies else "mc_console"

    def readiness(self) -> Mapping[str, ReadinessCheck]:
        async def database() -> None:
            await ping(self.engine)

        return {"database": database}


console_state = state_dependency(ConsoleState)
StateDep = Annotated[ConsoleState, Depends(console_state)]


class SignInRequired(Exception):
    """No (live) session: the page sends the browser to sign in, and back here after."""

    def __init__(self, return_to: str) -> None:
        self.return_to = return_to


class Forbidden(Exception):
    """Signed in, but the role is below what the page or action needs."""

    def __init__(self, needed: Role, role: Role) -> None:
        self.needed = needed
        self.role = role


class CsrfRejected(Exception):
    """A state change without the session's CSRF token (or from another origin)."""


async def _person(request: Request, state: StateDep) -> Person:
    person = await state.sign_ins.person(request.cookies.get(state.cookie_name))
    if person is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/")
    return person


def require(minimum: Role) -> Any:
    async def dependency(person: Annotated[Person, Depends(_person)]) -> Person:
        if not person.may(minimum):
            raise Forbidden(minimum, person.role)
        return person

    return dependency


async def _changes(request: Request, state: StateDep, person: Annotated[Person, Depends(_person)]) -> Person:
    """Every state change: the session's CSRF token (form field or htmx header), same origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != state.settings.public_url:
        raise CsrfRejected
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not csrf_ok(person, presented):
        raise CsrfRejected
    return person


def require_change(minimum: Role) -> Any:
    async def dependency(person: Annotated[Person, Depends(_changes)]) -> Person:
        if not person.may(minimum):
            raise Forbidden(minimum, person.role)
        return person

    return dependency


PersonDep = Annotated[Person, Depends(_person)]
ViewerDep = Annotated[Person, Depends(require(Role.VIEWER))]
EditorDep = Annotated[Person, Depends(require(Role.EDITOR))]
AdminDep = Annotated[Person, Depends(require(Role.ADMIN))]
"""Pages (GET) by the role they need."""
ChangeDep = Annotated[Person, Depends(require_change(Role.VIEWER))]
EditorChangeDep = Annotated[Person, Depends(require_change(Role.EDITOR))]
AdminChangeDep = Annotated[Person, Depends(require_change(Role.ADMIN))]
"""State changes (POST) by the role they need; each checks the CSRF token first."""


def _services(state: StateDep) -> Services:
    return state.services


ServicesDep = Annotated[Services, Depends(_services)]
