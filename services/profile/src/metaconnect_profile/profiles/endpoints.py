"""Operators read profiles (viewer token) and export or erase them (admin token).

`{ref}` is the profile id or one identifier `kind:value` (see `schemas`); a merged
customer's id answers with its survivor; unknown and erased customers are 404.

Decisions:
* The read API masks identifiers; the export is admin-only because it holds them (and the
  raw questionnaire answers) in full.
* A second DELETE is 404, like any request about an erased customer: nothing is left to
  erase. The erasure is durable on commit; its tombstone reaches `mc.profiled.v1` on the
  flush after it or, if the broker is away then, from the relay's background loop.
* No answer echoes the identifier from the path.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.auth import AdminDep, ViewerDep
from metaconnect_common.db import unit_of_work
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import Colour, Purpose
from metaconnect_common.stage import RelayDep, SessionDep, SessionsDep
from metaconnect_profile.deps import CatalogDep, PolicyDep
from metaconnect_profile.models import Customer
from metaconnect_profile.profiles import erasure, export, queries
from metaconnect_profile.profiles.refs import decode_before, decode_cursor, invalid, parse_ref
from metaconnect_profile.profiles.schemas import (
    PersonalityOut,
    ProfileExport,
    ProfileOut,
    ProfilePage,
    ReachableChannel,
    StageChangeOut,
    TimelinePage,
)

log = logging.getLogger(__name__)

_RESPONSES: dict[int | str, dict[str, object]] = {
    status: r for status, r in ERROR_RESPONSES.items() if status in (401, 403, 422)
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No live customer: unknown, or erased."}
}
router = APIRouter(route_class=StrictQueryRoute, prefix="/v1/profiles", tags=["profiles"], responses=_RESPONSES)

Ref = Annotated[
    str,
    Path(
        description="The profile id, or `cid:`, `email:`, `phone:`, `device:` or `ext:<system>:` and the value.",
        openapi_examples={
            "profile id": {"value": "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001"},
            "customer id": {"value": "cid:c-1042"},
            "e-mail": {"value": "email:ada@example.com"},
            "phone": {"value": "phone:+4915112345678"},
            "external id": {"value": "ext:crm:C-7"},
        },
    ),
]


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no customer matches this reference (unknown or erased)")


async def _customer(session: AsyncSession, ref: str) -> Customer:
    customer = await queries.find_customer(session, parse_ref(ref))
    if customer is None:
        raise _not_found()
    return customer


@router.get(
    "",
    summary="Search live customers (segment-style)",
    description=(
        "Customers neither merged nor erased, newest first, matching every filter given. `colour` is the colour "
        "routing sees (`unknown` without profiling consent or evidence), `consent` a purpose currently granted, "
        "`channel` one the customer can be reached on now. Page with `next_cursor`."
    ),
)
async def search_profiles(
    _: ViewerDep,
    session: SessionDep,
    policy: PolicyDep,
    catalog: CatalogDep,
    stage: Annotated[str | None, Query(description="A configured lifecycle stage.", examples=["customer"])] = None,
    colour: Annotated[Colour | None, Query(description="The routing colour.")] = None,
    consent: Annotated[Purpose | None, Query(description="A purpose currently granted.")] = None,
    channel: Annotated[ReachableChannel | None, Query(description="A channel the customer can be reached on.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> ProfilePage:
    stages = (await catalog.current(session)).stages
    if stage is not None and stage not in stages:
        raise invalid("query.stage", "enum", f"stage must be one of {list(stages)}")
    after = decode_cursor(cursor, field="query.cursor") if cursor is not None else None
    return await queries.search(
        session,
        policy=policy,
        now=datetime.now(UTC),
        stage=stage,
        colour=colour,
        consent=consent,
        channel=Channel(channel) if channel is not None else None,
        limit=limit,
        after=after,
    )


@router.get(
    "/{ref}",
    responses=_NOT_FOUND,
    summary="One customer's profile",
    description=(
        "Stage, locale, time zone, consent (purposes and effective per-channel marketing consent, each with time "
        "and source), reachability (identifiers masked), engagement and active hours decayed to now, the "
        "personality as routing sees it, holdout, traits, the ids merged into this customer, and the newest "
        "refused questionnaires (instrument, rules broken, when; never the answers)."
    ),
)
async def get_profile(ref: Ref, _: ViewerDep, session: SessionDep, policy: PolicyDep) -> ProfileOut:
    customer = await _customer(session, ref)
    return await queries.profile(session, customer, policy=policy, now=datetime.now(UTC))


@router.get(
    "/{ref}/personality",
    responses=_NOT_FOUND,
    summary="The personality estimate, explained",
    description=(
        "Recomputed from the stored evidence as of now: every dimension (emotional stability included) with its "
        "uncertainty and the precision each source contributed, the colour derivation step by step, the evidence "
        "counts by source and the last change; `routing` is what routing may use, given the profiling consents."
    ),
)
async def get_personality(ref: Ref, _: ViewerDep, session: SessionDep, policy: PolicyDep) -> PersonalityOut:
    customer = await _customer(session, ref)
    return await queries.personality(session, customer, policy=policy, now=datetime.now(UTC))


@router.get(
    "/{ref}/timeline",
    responses=_NOT_FOUND,
    summary="Every interaction and message, newest first",
    description=(
        "Across channels, ordered by (occurred_at, event_id) descending. `before` takes `next_before` of the "
        "previous page, or an RFC 3339 time (with `Z` or an encoded `%2B` offset) to start strictly before it."
    ),
)
async def get_timeline(
    ref: Ref,
    _: ViewerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(examples=["2025-06-01T12:00:00Z"])] = None,
) -> TimelinePage:
    position = decode_before(before) if before is not None else None
    customer = await _customer(session, ref)
    return await queries.timeline(session, customer.id, limit=limit, before=position)


@router.get(
    "/{ref}/stages",
    responses=_NOT_FOUND,
    summary="The customer's stage history, oldest first",
    description=(
        "Every move between lifecycle stages (the first stage at the first event; `lifecycle.migrated` for "
        "customers who existed before stage history), with the event type that caused it and the time spent "
        "in the stage left. Includes the history of customers merged into this one."
    ),
)
async def get_stages(ref: Ref, _: ViewerDep, session: SessionDep) -> list[StageChangeOut]:
    customer = await _customer(session, ref)
    return await queries.stage_history(session, [customer.id])


@router.get(
    "/{ref}/export",
    responses=_NOT_FOUND,
    response_model=ProfileExport,
    summary="Export everything held about a customer (GDPR Art. 15/20, admin)",
    description=(
        "One JSON document, unmasked: the profile rows (the customer's and those merged into it), identifiers, "
        "the whole timeline, personality evidence with the raw questionnaire answers and the explained estimate, "
        "rejected submissions, merges and applied event ids. Admin only: it holds the personal data in full."
    ),
)
async def export_profile(ref: Ref, _: AdminDep, sessions: SessionsDep) -> JSONResponse:
    async with sessions() as session:
        # One snapshot for every query, so the document is consistent even while events arrive.
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
        customer = await _customer(session, ref)
        document = await export.export(session, customer, now=datetime.now(UTC))
    return JSONResponse(
        document.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="profile-{customer.id}.json"'},
    )


@router.delete(
    "/{ref}",
    responses=_NOT_FOUND,
    status_code=204,
    summary="Erase a customer (GDPR Art. 17, admin)",
    description=(
        "In one transaction: identifiers, timeline, personality evidence and rejections deleted, the profile "
        "emptied, for the customer and everyone merged into it; applied event ids and merge records (ids only) "
        "are kept so old events are not applied again. A tombstone (`kind: erased`) goes to `mc.profiled.v1`. "
        "A second DELETE answers 404."
    ),
)
async def erase_profile(ref: Ref, operator: AdminDep, sessions: SessionsDep, relay: RelayDep) -> Response:
    lookup = parse_ref(ref)
    async with unit_of_work(sessions) as session:
        erased = await erasure.erase(session, lookup, now=datetime.now(UTC))
    if erased is None:
        raise _not_found()
    log.info(
        "customer erased",
        extra={"customer_id": str(erased.customer_id), "merged": len(erased.merged_ids), "by": operator.subject},
    )
    try:
        await relay.flush()
    except Exception as exc:  # committed: the relay's background loop publishes the tombstone
        log.warning("tombstone for %s not published yet: %s", erased.customer_id, type(exc).__name__)
    return Response(status_code=204)
