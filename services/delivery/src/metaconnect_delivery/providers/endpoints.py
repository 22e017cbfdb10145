"""Provider accounts over REST (admin operator tokens). A secret is written, never read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.auth import AdminDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody, FieldError
from metaconnect_common.http import StrictQueryRoute
from metaconnect_delivery.config import ProviderSettings
from metaconnect_delivery.deps import ProvidersDep
from metaconnect_delivery.models import ProviderRow
from metaconnect_delivery.providers.service import InUse
from metaconnect_delivery.reliability import CircuitState

router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["providers"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such provider."}},
)


class ProviderOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    source: Literal["stored", "configured"] = Field(description="Over REST, or MC_DELIVERY_PROVIDERS.")
    settings: dict[str, Any] = Field(description="Everything but the secret.")
    secret_set: bool
    version: int | None
    updated_by: str | None
    updated_at: datetime | None
    circuit: CircuitState | None = Field(
        default=None,
        description="This replica's circuit breaker for the account (closed, half_open, open); null when this "
        "replica has not loaded it (yet). Each replica keeps its own.",
    )
    serving: bool = Field(
        default=False, description="Whether it serves its channel in this replica (enabled, lowest priority)."
    )

    def in_use(self, state: InUse) -> ProviderOut:
        return self.model_copy(update={"circuit": state.circuits.get(self.name), "serving": self.name in state.serving})


def _without_userinfo(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as shown: a URL stored before userinfo was refused loses its user and password."""
    shown = dict(settings)
    for key in ("base_url", "status_callback_url"):
        url = shown.get(key)
        if isinstance(url, str):
            parts = urlsplit(url)
            if "@" in parts.netloc:
                shown[key] = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return shown


def _stored(row: ProviderRow) -> ProviderOut:
    return ProviderOut(
        name=row.name,
        source="stored",
        settings=_without_userinfo(row.settings),
        secret_set=row.secret is not None,
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _configured(provider: ProviderSettings) -> ProviderOut:
    return ProviderOut(
        name=provider.name,
        source="configured",
        settings=provider.model_dump(mode="json", exclude={"secret"}),
        secret_set=provider.secret is not None,
        version=None,
        updated_by=None,
        updated_at=None,
    )


@router.get("/v1/providers", summary="Every provider account, stored and configured")
async def list_providers(_: AdminDep, accounts: ProvidersDep) -> list[ProviderOut]:
    rows = await accounts.stored()
    names = {r.name for r in rows}
    state = await accounts.in_use()
    listed = [*(_stored(r) for r in rows), *(_configured(p) for p in accounts.configured if p.name not in names)]
    return [p.in_use(state) for p in listed]


@router.get("/v1/providers/{name}", summary="One provider account")
async def get_provider(name: str, _: AdminDep, accounts: ProvidersDep) -> ProviderOut:
    found = await accounts.one(name)
    if found is None:
        raise ApiError(404, "not_found", f"no provider {name}")
    shown = _stored(found) if isinstance(found, ProviderRow) else _configured(found)
    return shown.in_use(await accounts.in_use())


@router.put(
    "/v1/providers/{name}",
    summary="Create or replace a provider account (the secret is kept when not given)",
    responses={201: {"model": ProviderOut, "description": "Created."}},
)
async def put_provider(
    name: str, provider: ProviderSettings, response: Response, operator: AdminDep, accounts: ProvidersDep
) -> ProviderOut:
    if provider.name != name:
        raise ApiError(
            422,
            "validation_failed",
            "the body names another provider than the path",
            errors=[FieldError(field="name", rule="matches_path", message=f"must be {name!r}")],
        )
    row, created = await accounts.put(provider, author=operator.subject)
    response.status_code = 201 if created else 200
    return _stored(row).in_use(await accounts.in_use())


@router.delete("/v1/providers/{name}", status_code=204, summary="Remove a stored provider account")
async def delete_provider(name: str, _: AdminDep, accounts: ProvidersDep) -> Response:
    if not await accounts.remove(name):
        raise ApiError(404, "not_found", f"no stored provider {name} (configured ones come from MC_DELIVERY_PROVIDERS)")
    return Response(status_code=204)
