"""Operators manage channel API keys (admin token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from metaconnect_common.auth import AdminDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, FieldError
from metaconnect_common.http import StrictQueryRoute
from metaconnect_ingest.deps import KeyServiceDep
from metaconnect_ingest.keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut

router = APIRouter(route_class=StrictQueryRoute, prefix="/v1/api-keys", tags=["api keys"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=201,
    summary="Create a channel API key",
    description="Returns the secret once. Scope it to channels and event types; empty lists allow all.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "mobile app": {
                            "value": {
                                "name": "ios-app",
                                "channels": ["in_app", "push"],
                                "event_types": ["app.*", "purchase.completed"],
                                "rate_per_s": 100,
                                "burst": 1000,
                            }
                        }
                    }
                }
            }
        }
    },
)
async def create_key(body: ApiKeyCreate, operator: AdminDep, keys: KeyServiceDep) -> ApiKeyCreated:
    return await keys.create(body, by=operator.subject)


@router.get("", summary="List API keys (never their secrets)")
async def list_keys(
    _: AdminDep,
    keys: KeyServiceDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
    after: Annotated[uuid.UUID | None, Query(description="The id of the last key of the page before.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, description="At most this many (all without it).")] = None,
) -> list[ApiKeyOut]:
    listed = await keys.list(include_revoked=include_revoked, after=after, limit=limit)
    if listed is None:
        raise ApiError(
            422,
            "validation_failed",
            "after names no API key",
            errors=[FieldError(field="query.after", rule="cursor", message="not the id of an API key")],
        )
    return listed


@router.get("/{key_id}", summary="One API key")
async def get_key(key_id: uuid.UUID, _: AdminDep, keys: KeyServiceDep) -> ApiKeyOut:
    key = await keys.get(key_id)
    if key is None:
        raise ApiError(404, "not_found", f"no API key {key_id}")
    return key


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(key_id: uuid.UUID, operator: AdminDep, keys: KeyServiceDep) -> Response:
    if not await keys.revoke(key_id, by=operator.subject):
        if await keys.get(key_id) is None:
            raise ApiError(404, "not_found", f"no API key {key_id}")
    return Response(status_code=204)
