"""Provider accounts over REST (admin operator tokens). A secret is written, never read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.auth import AdminDep
from metaconnect_common.db import unit_of_work
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody, FieldError
from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.models import ProviderRow
from metaconnect_delivery.providers import store
from metaconnect_delivery.registry import Registry

router = APIRouter(
    tags=["providers"], responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such provider."}}
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


def _stored(row: ProviderRow) -> ProviderOut:
    return ProviderOut(
        name=row.name,
        source="stored",
        settings=row.settings,
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
async def list_providers(request: Request, _: AdminDep) -> list[ProviderOut]:
    settings: DeliverySettings = request.app.state.settings
    async with request.app.state.sessions() as session:
        rows = await store.stored(session)
    names = {r.name for r in rows}
    return [*(_stored(r) for r in rows), *(_configured(p) for p in settings.providers if p.name not in names)]


@router.get("/v1/providers/{name}", summary="One provider account")
async def get_provider(name: str, request: Request, _: AdminDep) -> ProviderOut:
    async with request.app.state.sessions() as session:
        row = await store.one(session, name)
    if row is not None:
        return _stored(row)
    settings: DeliverySettings = request.app.state.settings
    configured = next((p for p in settings.providers if p.name == name), None)
    if configured is None:
        raise ApiError(404, "not_found", f"no provider {name}")
    return _configured(configured)


@router.put(
    "/v1/providers/{name}",
    summary="Create or replace a provider account (the secret is kept when not given)",
    responses={201: {"model": ProviderOut, "description": "Created."}},
)
async def put_provider(
    name: str, provider: ProviderSettings, request: Request, response: Response, operator: AdminDep
) -> ProviderOut:
    if provider.name != name:
        raise ApiError(
            422,
            "validation_failed",
            "the body names another provider than the path",
            errors=[FieldError(field="name", rule="matches_path", message=f"must be {name!r}")],
        )
    settings: DeliverySettings = request.app.state.settings
    async with unit_of_work(request.app.state.sessions) as session:
        row, created = await store.put(
            session,
            provider,
            store.cipher(settings),
            author=operator.subject,
            now=datetime.now(UTC),
            keep_secret=True,
        )
        out = _stored(row)
    registry: Registry = request.app.state.registry
    await registry.refresh(request.app.state.sessions, force=True)
    response.status_code = 201 if created else 200
    return out


@router.delete("/v1/providers/{name}", status_code=204, summary="Remove a stored provider account")
async def delete_provider(name: str, request: Request, _: AdminDep) -> Response:
    async with unit_of_work(request.app.state.sessions) as session:
        removed = await store.remove(session, name)
    if not removed:
        raise ApiError(404, "not_found", f"no stored provider {name} (configured ones come from MC_DELIVERY_PROVIDERS)")
    registry: Registry = request.app.state.registry
    await registry.refresh(request.app.state.sessions, force=True)
    return Response(status_code=204)
