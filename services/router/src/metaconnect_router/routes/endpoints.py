"""Marketing ops manage routes (operator tokens: viewer reads, editor writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from metaconnect_common.auth import EditorDep, ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_router.deps import RouteServiceDep
from metaconnect_router.routes.schemas import RouteOut, RoutePlan, RouteVersionOut
from metaconnect_router.routes.spec import RouteSpec, RouteStatus

router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/routes",
    tags=["routes"],
    responses={
        **ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "No such route."},
        409: {"model": ErrorBody, "description": "A route with this name exists."},
    },
)

EXAMPLE: dict[str, Any] = {
    "name": "cart-reminder",
    "description": "Remind customers of what they left in the cart.",
    "status": "active",
    "trigger": {
        "event_types": ["cart.abandoned"],
        "condition": 'event.properties.value >= 20 and profile.lifecycle_stage in ["customer", "loyal"]',
    },
    "messages": [
        {
            "id": "cart-left",
            "priority": 60,
            "category": "marketing",
            "collapse_key": "cart",
            "expires_after": "P1D",
            "channels": ["push", "email"],
            "variants": {
                "neutral": {
                    "push": {"en": {"title": "Your cart", "body": "Your items are waiting."}},
                    "email": {"en": {"subject": "Your cart", "body": "Your items are waiting for you."}},
                },
                "red": {
                    "push": {"en": {"title": "Finish in one tap", "body": "Check out now."}},
                    "email": {"en": {"subject": "Finish your order", "body": "One step left: check out now."}},
                },
            },
        }
    ],
    "policy": {
        "bundle_window": "PT30M",
        "bundle_max_items": 5,
        "cap_overall": {"count": 3, "per": "P1D"},
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    },
}
_BODY = {"requestBody": {"content": {"application/json": {"examples": {"cart reminder": {"value": EXAMPLE}}}}}}


def _not_found(name: str) -> ApiError:
    return ApiError(404, "not_found", f"no route {name}")


@router.post("", status_code=201, summary="Create a route (version 1)", openapi_extra=_BODY)
async def create_route(spec: RouteSpec, operator: EditorDep, routes: RouteServiceDep, response: Response) -> RouteOut:
    created = await routes.create(spec, author=operator.subject)
    response.headers["Location"] = f"/v1/routes/{created.name}"
    response.headers["ETag"] = f'"{created.version}"'
    return created


@router.post(
    "/plan",
    summary="What putting this spec would do (create, update or nothing), without writing",
    description="Checks the spec as `PUT` does. `metaconnect routes plan` shows it as a diff.",
    openapi_extra=_BODY,
)
async def plan_route(spec: RouteSpec, _: ViewerDep, routes: RouteServiceDep) -> RoutePlan:
    return await routes.plan(spec)


@router.get("", summary="List routes (their current versions)")
async def list_routes(
    _: ViewerDep,
    routes: RouteServiceDep,
    status: Annotated[RouteStatus | None, Query(description="Only routes in this status.")] = None,
    include_deleted: Annotated[bool, Query(description="Also list deleted routes.")] = False,
    after: Annotated[
        str | None, Query(max_length=200, description="The name of the last route of the page before (by name).")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, description="At most this many (all without it).")] = None,
) -> list[RouteOut]:
    return await routes.list_routes(status=status, include_deleted=include_deleted, after=after, limit=limit)


@router.get("/{name}", summary="One route's current version")
async def get_route(name: str, _: ViewerDep, routes: RouteServiceDep, response: Response) -> RouteOut:
    route = await routes.get(name)
    if route is None:
        raise _not_found(name)
    response.headers["ETag"] = f'"{route.version}"'
    return route


@router.put(
    "/{name}",
    summary="Create or change a route (a new version unless nothing changed)",
    description=(
        "Idempotent: putting the spec the route has already answers 200 with the same version. "
        'Send `If-Match: "<version>"` to refuse the change (412) when someone else changed the route meanwhile.'
    ),
    openapi_extra=_BODY,
    responses={
        201: {"model": RouteOut, "description": "Created."},
        412: {"model": ErrorBody, "description": "The route is not at the version `If-Match` names."},
    },
)
async def put_route(
    name: str,
    spec: RouteSpec,
    operator: EditorDep,
    routes: RouteServiceDep,
    response: Response,
    if_match: Annotated[str | None, Header(description='The version you changed, e.g. "3".')] = None,
) -> RouteOut:
    expected: int | None = None
    if if_match is not None:
        try:
            expected = int(if_match.strip().strip('"'))
        except ValueError:
            raise ApiError(400, "bad_request", 'If-Match must be a route version, e.g. "3"') from None
    written = await routes.put(name, spec, author=operator.subject, if_match=expected)
    response.status_code = 201 if written.created else 200
    response.headers["ETag"] = f'"{written.route.version}"'
    return written.route


@router.delete("/{name}", status_code=204, summary="Delete a route (it stops deciding; its history stays)")
async def delete_route(name: str, operator: EditorDep, routes: RouteServiceDep) -> Response:
    if not await routes.delete(name, author=operator.subject):
        raise _not_found(name)
    return Response(status_code=204)


@router.get("/{name}/versions", summary="A route's versions, newest first")
async def route_versions(name: str, _: ViewerDep, routes: RouteServiceDep) -> list[RouteVersionOut]:
    versions = await routes.versions(name)
    if not versions:
        raise _not_found(name)
    return versions
