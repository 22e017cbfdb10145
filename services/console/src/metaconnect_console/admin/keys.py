"""Channel API keys (ingest's `/v1/api-keys`): created with the secret shown once, scoped, revoked."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_common.schemas import Channel
from metaconnect_console.admin.forms import KeyForm, service_errors
from metaconnect_console.api import Refused, Services, ServiceUnavailable
from metaconnect_console.auth.service import Person
from metaconnect_console.deps import AdminChangeDep, AdminDep, ServicesDep
from metaconnect_console.web import page

router = APIRouter(prefix="/admin/keys", tags=["admin"])
SCOPES = {
    "events": "Post events (/v1/events)",
    "inbox": "Mint inbox tokens for the app's signed-in customers (/v1/inbox/tokens)",
}

KEYS_PAGE = 50
BLANK = KeyForm(scopes=["events"])
"""A new key's form: posting events is what most keys are for."""


@router.get("", response_class=HTMLResponse)
async def key_list(
    request: Request,
    person: AdminDep,
    services: ServicesDep,
    revoked: Annotated[bool, Query()] = False,
    after: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    return await _keys_page(request, person, services, revoked=revoked, after=after)


@router.post("", response_class=HTMLResponse)
async def create_key(request: Request, person: AdminChangeDep, services: ServicesDep) -> Response:
    form = await request.form()
    typed = KeyForm(
        name=str(form.get("name") or ""),
        scopes=[str(s) for s in form.getlist("scopes")],
        channels=[str(c) for c in form.getlist("channels")],
        event_types=str(form.get("event_types") or ""),
        rate_per_s=str(form.get("rate_per_s") or ""),
        burst=str(form.get("burst") or ""),
    )
    try:
        created = await services.json(person, "POST", "ingest", "/v1/api-keys", json=typed.request())
    except Refused as exc:
        if exc.status != 422 and not _htmx(request):
            raise
        message, errors = service_errors(exc.body)
        return await _keys_page(request, person, services, typed=typed, message=message, errors=errors, status_code=422)
    except ServiceUnavailable as exc:
        if not _htmx(request):
            raise
        # htmx swaps no error page in: the form says it, and that the key may exist.
        message = f"The ingest service did not answer properly ({exc.detail}): look for the key in the list first."
        return await _keys_page(request, person, services, typed=typed, message=message)
    # The secret reaches this one answer only: htmx swaps it into the page, the URL stays the
    # list's, so a reload shows the list without it.
    return await _keys_page(request, person, services, created=created)


@router.post("/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, person: AdminChangeDep, services: ServicesDep) -> Response:
    await services.json(person, "DELETE", "ingest", f"/v1/api-keys/{key_id}")
    return RedirectResponse("/admin/keys", status_code=303)


async def _keys_page(
    request: Request,
    person: Person,
    services: Services,
    *,
    revoked: bool = False,
    after: uuid.UUID | None = None,
    created: dict[str, Any] | None = None,
    typed: KeyForm | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    htmx = _htmx(request)
    try:
        # One more than a page: whether another page follows.
        listed = await services.get(
            person, "ingest", "/v1/api-keys", include_revoked=revoked, after=after, limit=KEYS_PAGE + 1
        )
        keys, unlisted = listed[:KEYS_PAGE], None
        next_after = listed[KEYS_PAGE - 1]["id"] if len(listed) > KEYS_PAGE else None
    except (Refused, ServiceUnavailable) as exc:
        if created is None and not htmx:
            raise
        # A key just created is shown whatever the list does: its secret is in this answer only.
        keys, unlisted, next_after = [], f"The keys could not be listed ({exc}); reload in a moment.", None
    return page(
        request,
        "admin/keys_body.html" if htmx else "admin/keys.html",
        person,
        # htmx swaps 2xx answers only: the form with its errors comes back as 200 to htmx.
        status_code=200 if htmx else status_code,
        section="admin",
        admin_section="keys",
        keys=keys,
        next_after=next_after,
        unlisted=unlisted,
        revoked=revoked,
        created=created,
        typed=typed or BLANK,
        message=message,
        errors=errors or {},
        scopes=SCOPES,
        channels=[c.value for c in Channel],
    )


def _htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
