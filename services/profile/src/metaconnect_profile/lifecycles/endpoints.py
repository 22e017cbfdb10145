"""Operators manage the deployment's lifecycle (operator tokens: viewer reads, editor writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from metaconnect_common.auth import EditorDep, ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_profile.deps import LifecycleServiceDep
from metaconnect_profile.lifecycles.schemas import LifecycleOut, LifecyclePlan
from metaconnect_profile.lifecycles.spec import LifecycleSpec

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/lifecycle",
    tags=["lifecycle"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No lifecycle is stored yet."}},
)

EXAMPLE: dict[str, Any] = {
    "name": "shop",
    "description": "From first visit to loyal customer.",
    "stages": [
        {"name": "lead", "description": "Known, not yet qualified.", "allow_back": True},
        {"name": "qualified", "enter_on": [{"event_types": ["lead.qualified"], "condition": None}]},
        {
            "name": "customer",
            "enter_on": [{"event_types": ["purchase.completed"], "condition": "event.properties.amount > 0"}],
        },
    ],
}
_BODY = {"requestBody": {"content": {"application/json": {"examples": {"shop": {"value": EXAMPLE}}}}}}


@router.get("", summary="The current lifecycle version")
async def get_lifecycle(_: ViewerDep, lifecycles: LifecycleServiceDep, response: Response) -> LifecycleOut:
    current = await lifecycles.get()
    if current is None:
        raise ApiError(404, "not_found", "no lifecycle is stored yet; PUT /v1/lifecycle stores one")
    response.headers["ETag"] = f'"{current.version}"'
    return current


@router.put(
    "",
    summary="Change the lifecycle (a new version unless nothing changed)",
    description=(
        "Idempotent: putting the spec the lifecycle has already answers 200 with the same version. "
        'Send `If-Match: "<version>"` to refuse the change (412) when someone else changed it meanwhile. '
        "Customers in a stage the new version no longer has keep it; it ranks below every stage."
    ),
    openapi_extra=_BODY,
    responses={412: {"model": ErrorBody, "description": "The lifecycle is not at the version `If-Match` names."}},
)
async def put_lifecycle(
    spec: LifecycleSpec,
    operator: EditorDep,
    lifecycles: LifecycleServiceDep,
    response: Response,
    if_match: Annotated[str | None, Header(description='The version you changed, e.g. "3".')] = None,
) -> LifecycleOut:
    expected: int | None = None
    if if_match is not None:
        try:
            expected = int(if_match.strip().strip('"'))
        except ValueError:
            raise ApiError(400, "bad_request", 'If-Match must be a lifecycle version, e.g. "3"') from None
    written = await lifecycles.put(spec, author=operator.subject, if_match=expected)
    response.headers["ETag"] = f'"{written.lifecycle.version}"'
    return written.lifecycle


@router.post(
    "/plan",
    summary="What putting this spec would do (create, update or nothing), without writing",
    description="Checks the spec as `PUT` does, and counts the customers in stages it no longer has.",
    openapi_extra=_BODY,
)
async def plan_lifecycle(spec: LifecycleSpec, _: ViewerDep, lifecycles: LifecycleServiceDep) -> LifecyclePlan:
    return await lifecycles.plan(spec)


@router.get("/versions", summary="The lifecycle's versions, newest first")
async def lifecycle_versions(_: ViewerDep, lifecycles: LifecycleServiceDep) -> list[LifecycleOut]:
    return await lifecycles.versions()
