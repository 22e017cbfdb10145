"""Who may sign in, and with which role (the console's own `console.members`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_common.auth import Role
from metaconnect_console.admin import service
from metaconnect_console.admin.access import refusal
from metaconnect_console.admin.forms import normalized_email
from metaconnect_console.auth.service import Person
from metaconnect_console.config import ROLES
from metaconnect_console.deps import AdminChangeDep, AdminDep, StateDep
from metaconnect_console.web import page

router = APIRouter(prefix="/admin/members", tags=["admin"])


@router.get("", response_class=HTMLResponse)
async def member_list(
    request: Request, person: AdminDep, state: StateDep, after: Annotated[str | None, Query(max_length=320)] = None
) -> HTMLResponse:
    return await _members_page(request, person, state, after=after)


@router.post("", response_class=HTMLResponse)
async def grant(request: Request, person: AdminChangeDep, state: StateDep) -> Response:
    form = await request.form()
    typed = {"email": str(form.get("email") or ""), "role": str(form.get("role") or "")}
    email = normalized_email(typed["email"])
    role = Role(typed["role"]) if typed["role"] in {r.value for r in ROLES} else None
    errors = {}
    if email is None:
        errors["email"] = "email: not an e-mail address"
    if role is None:
        errors["role"] = "role: one of " + ", ".join(r.value for r in ROLES)
    if email is not None and role is not None:
        reason = refusal(actor=person.email, email=email, role=role, admins=state.settings.admins)
        if reason is not None:
            return await _members_page(request, person, state, typed=typed, message=reason, status_code=409)
        await service.grant(state.sessions, email=email, role=role, by=person.email or person.subject)
        return RedirectResponse("/admin/members", status_code=303)
    return await _members_page(request, person, state, typed=typed, errors=errors, status_code=422)


@router.post("/remove", response_class=HTMLResponse)
async def remove(request: Request, person: AdminChangeDep, state: StateDep) -> Response:
    form = await request.form()
    email = normalized_email(str(form.get("email") or ""))
    if email is None:
        return await _members_page(request, person, state, message="No such member.", status_code=422)
    reason = refusal(actor=person.email, email=email, role=None, admins=state.settings.admins)
    if reason is not None:
        return await _members_page(request, person, state, message=reason, status_code=409)
    await service.revoke(state.sessions, email=email)
    return RedirectResponse("/admin/members", status_code=303)


async def _members_page(
    request: Request,
    person: Person,
    state: StateDep,
    *,
    after: str | None = None,
    typed: dict[str, str] | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    members, next_after = await service.members(state.sessions, after)
    return page(
        request,
        "admin/members.html",
        person,
        status_code=status_code,
        section="admin",
        admin_section="members",
        members=members,
        next_after=next_after,
        admins=state.settings.admins,
        roles=[r.value for r in ROLES],
        typed=typed or {"email": "", "role": Role.VIEWER.value},
        message=message,
        errors=errors or {},
    )
