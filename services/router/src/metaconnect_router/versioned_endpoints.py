"""The REST endpoints every versioned spec has (routes, journeys): create, plan, list, get, put
with `If-Match`, delete, versions (operator tokens: viewer reads, editor writes)."""

# No `from __future__ import annotations`: the endpoints' annotations name the kind's models at
# runtime, which is how FastAPI learns the request and answer shapes.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from metaconnect_common.auth import EditorDep, ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_router.routes.spec import RouteStatus
from metaconnect_router.versioning import Answers, Kind, VersionedSpecs


def versioned_router(
    kind: Kind,
    answers: Answers[Any],
    service: Callable[..., VersionedSpecs[Any]],
    *,
    example: dict[str, Any],
    tag: str,
) -> APIRouter:
    """The endpoints under `kind.path`; `service` is the dependency that gives the kind's store."""
    label, plural = kind.label, kind.path.rsplit("/", 1)[-1]
    Spec = answers.spec
    Out, VersionOut, Plan = answers.out, answers.version_out, answers.plan
    Store = Annotated[VersionedSpecs[Any], Depends(service)]
    body = {"requestBody": {"content": {"application/json": {"examples": {label: {"value": example}}}}}}
    router = APIRouter(
        route_class=StrictQueryRoute,
        prefix=kind.path,
        tags=[tag],
        responses={
            **ERROR_RESPONSES,
            404: {"model": ErrorBody, "description": f"No such {label}."},
            409: {"model": ErrorBody, "description": f"A {label} with this name exists."},
        },
    )

    def not_found(name: str) -> ApiError:
        return ApiError(404, "not_found", f"no {label} {name}")

    @router.post("", status_code=201, summary=f"Create a {label} (version 1)", openapi_extra=body)
    async def create(spec: Spec, operator: EditorDep, store: Store, response: Response) -> Out:  # type: ignore[valid-type]
        created = await store.create(spec, author=operator.subject)
        response.headers["Location"] = f"{kind.path}/{created.name}"
        response.headers["ETag"] = f'"{created.version}"'
        return created

    @router.post(
        "/plan",
        summary="What putting this spec would do (create, update or nothing), without writing",
        description=f"Checks the spec as `PUT` does. `metaconnect {plural} plan` shows it as a diff.",
        openapi_extra=body,
    )
    async def plan(spec: Spec, _: ViewerDep, store: Store) -> Plan:  # type: ignore[valid-type]
        return await store.plan(spec)

    @router.get("", summary=f"List {plural} (their current versions)")
    async def listed(
        _: ViewerDep,
        store: Store,
        status: Annotated[RouteStatus | None, Query(description=f"Only {plural} in this status.")] = None,
        include_deleted: Annotated[bool, Query(description=f"Also list deleted {plural}.")] = False,
        after: Annotated[
            str | None, Query(max_length=200, description=f"The name of the last {label} of the page before.")
        ] = None,
        limit: Annotated[int | None, Query(ge=1, le=500, description="At most this many (all without it).")] = None,
    ) -> list[Out]:  # type: ignore[valid-type]
        return await store.listed(status=status, include_deleted=include_deleted, after=after, limit=limit)

    @router.get("/{name}", summary=f"One {label}'s current version")
    async def get(name: str, _: ViewerDep, store: Store, response: Response) -> Out:  # type: ignore[valid-type]
        found = await store.get(name)
        if found is None:
            raise not_found(name)
        response.headers["ETag"] = f'"{found.version}"'
        return found

    @router.put(
        "/{name}",
        summary=f"Create or change a {label} (a new version unless nothing changed)",
        description=(
            f"Idempotent: putting the spec the {label} has already answers 200 with the same version. "
            f'Send `If-Match: "<version>"` to refuse the change (412) when someone else changed it meanwhile.'
        ),
        openapi_extra=body,
        responses={
            201: {"model": Out, "description": "Created."},
            412: {"model": ErrorBody, "description": f"The {label} is not at the version `If-Match` names."},
        },
    )
    async def put(
        name: str,
        spec: Spec,  # type: ignore[valid-type]
        operator: EditorDep,
        store: Store,
        response: Response,
        if_match: Annotated[str | None, Header(description='The version you changed, e.g. "3".')] = None,
    ) -> Out:  # type: ignore[valid-type]
        expected: int | None = None
        if if_match is not None:
            try:
                expected = int(if_match.strip().strip('"'))
            except ValueError:
                raise ApiError(400, "bad_request", f'If-Match must be a {label} version, e.g. "3"') from None
        written = await store.put(name, spec, author=operator.subject, if_match=expected)
        response.status_code = 201 if written.created else 200
        response.headers["ETag"] = f'"{written.out.version}"'
        return written.out

    @router.delete("/{name}", status_code=204, summary=f"Delete a {label} (it stops; its history stays)")
    async def delete(name: str, operator: EditorDep, store: Store) -> Response:
        if not await store.delete(name, author=operator.subject):
            raise not_found(name)
        return Response(status_code=204)

    @router.get("/{name}/versions", summary=f"A {label}'s versions, newest first")
    async def versions(name: str, _: ViewerDep, store: Store) -> list[VersionOut]:  # type: ignore[valid-type]
        found = await store.versions(name)
        if not found:
            raise not_found(name)
        return found

    return router
