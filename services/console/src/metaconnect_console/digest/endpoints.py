"""The Digest admin page (admins only): who gets the management digest and when, its audit trail,
a preview of this week's digest and "Send now"."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.auth.service import Person
from metaconnect_console.deps import AdminChangeDep, AdminDep, ServicesDep, StateDep
from metaconnect_console.digest import repository
from metaconnect_console.digest.cadence import WEEKDAYS, Period, next_due, week_before
from metaconnect_console.digest.compose import as_text, subject
from metaconnect_console.digest.form import DigestConfig, Typed, checked
from metaconnect_console.digest.service import NotSent, gather, send
from metaconnect_console.web import page

router = APIRouter(prefix="/admin/digest", tags=["admin"])
CHANGES_PAGE = 20
SENDS_SHOWN = 10


@router.get("", response_class=HTMLResponse)
async def digest_page(
    request: Request, person: AdminDep, state: StateDep, before: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    return await _settings_page(request, person, state, before=before)


@router.post("", response_class=HTMLResponse)
async def save_settings(request: Request, person: AdminChangeDep, state: StateDep) -> Response:
    typed = Typed.from_form(await request.form())
    config, errors = checked(typed)
    if config is None:
        return await _settings_page(request, person, state, typed=typed, errors=errors, status_code=422)
    async with state.sessions.begin() as db:
        await repository.save(db, config, by=person.email or person.subject, now=datetime.now(UTC))
    return RedirectResponse("/admin/digest?saved=1", status_code=303)


@router.get("/preview", response_class=HTMLResponse)
async def preview(request: Request, person: AdminDep, state: StateDep, services: ServicesDep) -> HTMLResponse:
    async with state.sessions() as db:
        config, _ = await repository.config(db)
    period = week_before(datetime.now(UTC).replace(microsecond=0))
    digest = await gather(services, person, period, config.cadence.zone)
    return page(
        request,
        "digest/preview.html",
        person,
        section="admin",
        admin_section="digest",
        config=config,
        period=period,
        subject=subject(digest),
        text=as_text(digest),
        digest=digest,
        send_key=uuid.uuid4(),
    )


@router.post("/send", response_class=HTMLResponse)
async def send_now(request: Request, person: AdminChangeDep, state: StateDep, services: ServicesDep) -> Response:
    form = await request.form()
    try:
        send_key = uuid.UUID(str(form.get("send_key") or ""))
        period = Period(
            since=datetime.fromisoformat(str(form.get("since") or "")),
            until=datetime.fromisoformat(str(form.get("until") or "")),
        )
    except ValueError:
        return _sent_page(request, person, error="The preview's form was incomplete: open the preview again.", code=422)
    if period.since.tzinfo is None or period.until <= period.since:
        return _sent_page(request, person, error="The preview's period is not a period: open it again.", code=422)
    async with state.sessions() as db:
        config, _ = await repository.config(db)
    if not config.recipients and not config.webhook:
        return _sent_page(request, person, error="Set recipients (or the webhook) first.", code=409)
    digest = await gather(services, person, period, config.cadence.zone)
    try:
        # The preview's key: pressing twice (or a resent form) is the same notification, sent once.
        sent = await send(services, person, digest, config, f"now/{send_key}")
    except NotSent as exc:
        return _sent_page(request, person, error=str(exc), code=502)
    return _sent_page(request, person, notifications=sent.notifications, config=config)


def _sent_page(
    request: Request,
    person: Person,
    *,
    error: str | None = None,
    code: int = 202,
    notifications: Sequence[tuple[str, str, str]] = (),
    config: DigestConfig | None = None,
) -> HTMLResponse:
    return page(
        request,
        "digest/sent.html",
        person,
        status_code=code if error else 200,
        section="admin",
        admin_section="digest",
        error=error,
        notifications=notifications,
        config=config,
    )


def _local(moment: datetime, zone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(zone)):%a %Y-%m-%d %H:%M} ({zone})"


async def _settings_page(
    request: Request,
    person: Person,
    state: StateDep,
    *,
    before: int | None = None,
    typed: Typed | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with state.sessions() as db:
        config, row = await repository.config(db)
        changes = list(await repository.changes(db, before=before, limit=CHANGES_PAGE + 1))
        sends = await repository.sends(db, limit=SENDS_SHOWN)
    shown = changes[:CHANGES_PAGE]
    return page(
        request,
        "digest/settings.html",
        person,
        status_code=status_code,
        section="admin",
        admin_section="digest",
        config=config,
        settings_row=row,
        typed=typed or Typed.of(config),
        errors=errors or {},
        saved=request.query_params.get("saved") == "1" and not errors,
        weekdays=WEEKDAYS,
        next_send=_local(next_due(config.cadence, datetime.now(UTC)), config.cadence.zone) if config.sends else None,
        changes=shown,
        next_before=shown[-1].id if len(changes) > CHANGES_PAGE else None,
        sends=sends,
    )
