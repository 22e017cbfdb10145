"""Provider accounts (delivery's `/v1/providers`): priority, enabled, the secret replaced but never
shown, and each account's circuit state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.admin.forms import circuit_badge, service_errors
from metaconnect_console.api import Refused
from metaconnect_console.auth.service import Person
from metaconnect_console.deps import AdminChangeDep, AdminDep, ServicesDep
from metaconnect_console.web import page

router = APIRouter(prefix="/admin/providers", tags=["admin"])
ProviderName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
SHOWN = ("kind", "channel", "base_url", "account", "sender", "username", "template", "language",
         "status_callback_url", "timeout_s", "rate_per_s", "burst")  # fmt: skip
"""Settings shown on an account's page (the secret never is: the service does not return it)."""


@router.get("", response_class=HTMLResponse)
async def provider_list(request: Request, person: AdminDep, services: ServicesDep) -> HTMLResponse:
    accounts: list[dict[str, Any]] = await services.get(person, "delivery", "/v1/providers")
    accounts.sort(key=lambda a: (a["settings"].get("channel", ""), a["settings"].get("priority", 0), a["name"]))
    return page(
        request,
        "admin/providers.html",
        person,
        section="admin",
        admin_section="providers",
        accounts=accounts,
        circuit_badge=circuit_badge,
    )


@router.get("/{name}", response_class=HTMLResponse)
async def provider_page(request: Request, name: ProviderName, person: AdminDep, services: ServicesDep) -> Response:
    account = await services.get(person, "delivery", f"/v1/providers/{name}")
    return _account_page(request, person, account)


@router.post("/{name}", response_class=HTMLResponse)
async def save_provider(
    request: Request, name: ProviderName, person: AdminChangeDep, services: ServicesDep
) -> Response:
    account = await services.get(person, "delivery", f"/v1/providers/{name}")
    form = await request.form()
    typed = {"priority": str(form.get("priority") or "").strip(), "enabled": form.get("enabled") == "on"}
    secret = str(form.get("secret") or "")
    if str(form.get("version") or "") != str(account["version"] or ""):
        # The service replaces the whole account: a change made meanwhile would be overwritten.
        message = (
            f"{account['updated_by']} changed this account meanwhile: here it is as it is now; make your change again."
        )
        return _account_page(request, person, account, message=message, status_code=409)
    if account["source"] == "configured" and account["secret_set"] and not secret:
        # Saving stores a copy that replaces the configured account: without the secret it would send unauthenticated.
        error = "secret_required: its secret is in MC_DELIVERY_PROVIDERS; saving here stores a copy, so enter it"
        return _account_page(request, person, account, typed=typed, errors={"secret": error}, status_code=422)
    body = {**account["settings"], "name": name, "priority": typed["priority"], "enabled": typed["enabled"]}
    if secret:
        body["secret"] = secret
    try:
        await services.json(person, "PUT", "delivery", f"/v1/providers/{name}", json=body)
    except Refused as exc:
        if exc.status != 422:
            raise
        message, errors = service_errors(exc.body)
        return _account_page(request, person, account, typed=typed, message=message, errors=errors, status_code=422)
    return RedirectResponse(f"/admin/providers/{name}?saved=1", status_code=303)


def _account_page(
    request: Request,
    person: Person,
    account: dict[str, Any],
    *,
    typed: dict[str, Any] | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = account["settings"]
    return page(
        request,
        "admin/provider.html",
        person,
        status_code=status_code,
        section="admin",
        admin_section="providers",
        account=account,
        shown=[(key, settings[key]) for key in SHOWN if settings.get(key) not in (None, "")],
        typed=typed or {"priority": str(settings.get("priority", "")), "enabled": bool(settings.get("enabled"))},
        message=message,
        errors=errors or {},
        saved=request.query_params.get("saved") == "1",
        circuit_badge=circuit_badge,
    )
