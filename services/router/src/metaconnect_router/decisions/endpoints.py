"""Explained decisions, and the simulation of one (operator tokens: viewers read and simulate)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.refs import invalid, parse_ref
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_common.stage import SessionDep
from metaconnect_router.decisions import repository
from metaconnect_router.deps import DecisionServiceDep
from metaconnect_router.models import Decision
from metaconnect_router.routes.spec import RouteSpec

router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["decisions"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "None."}},
)


class DecisionOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    outcome: str = Field(description="dropped | sent (at once) | bundled")
    route: str | None
    route_version: int | None
    message_id: str | None
    tone: str | None
    channel: str | None
    pattern: str | None
    holdout: bool
    explored: bool
    propensity: float | None
    bundle_id: uuid.UUID | None
    trace_id: str | None
    created_at: datetime
    journey: str | None = Field(default=None, description="The journey whose send step decided (route is null).")
    journey_step: str | None = None
    explanation: dict[str, Any]


def _out(row: Decision) -> DecisionOut:
    return DecisionOut.model_validate(row, from_attributes=True)


@router.get(
    "/v1/decisions",
    summary="A customer's decisions, newest first",
    description="Newest first by (created_at, id); page on with `after`, the last id of the page before.",
    responses={404: {"model": ErrorBody, "description": "The router knows no customer by this ref."}},
)
async def list_decisions(
    session: SessionDep,
    _: ViewerDep,
    customer: Annotated[
        str,
        Query(
            description="The customer, named as in `GET /v1/profiles/{ref}`: the Metaconnect id (UUID, a merged "
            "customer's old id too) or one identifier `cid:`, `email:`, `phone:`, `ext:<system>:`.",
            max_length=4200,
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[
        uuid.UUID | None,
        Query(description="The cursor: the id of the previous page's last decision; the page goes on after it."),
    ] = None,
) -> list[DecisionOut]:
    ref = parse_ref(customer, field="query.customer")
    customer_id = await repository.customer_of(session, ref)
    if customer_id is None:  # the ref's kind only: its value may be an address
        raise ApiError(404, "customer_not_found", f"no customer known to the router by this {ref.ref_kind} ref")
    last = await repository.decision(session, after) if after is not None else None
    if after is not None and (last is None or last.customer_id != customer_id):
        raise invalid("query.after", "cursor", "not a decision of this customer")
    return [_out(r) for r in await repository.decisions_of(session, customer_id, limit, after=last)]


@router.get("/v1/decisions/{decision_id}", summary="One decision with its explanation")
async def get_decision(decision_id: uuid.UUID, session: SessionDep, _: ViewerDep) -> DecisionOut:
    row = await repository.decision(session, decision_id)
    if row is None:
        raise ApiError(404, "not_found", f"no decision {decision_id}")
    return _out(row)


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Interaction
    profile: ProfileSnapshot
    customer_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    route: RouteSpec | None = Field(default=None, description="A draft route to decide with, as if it were active.")


class SimulateOut(BaseModel):
    outcome: str
    route: str | None
    message_id: str | None
    tone: str | None
    channels: list[str]
    not_before: datetime | None
    holdout: bool
    explanation: dict[str, Any]


@router.post(
    "/v1/simulate",
    summary="Decide on a posted event and profile with the live decision code; sends nothing, stores nothing",
)
async def simulate(body: SimulateIn, _: ViewerDep, service: DecisionServiceDep) -> SimulateOut:
    decision = await service.simulate(
        body.event, body.profile, body.customer_id, draft=body.route, now=datetime.now(UTC)
    )
    choice = decision.choice
    return SimulateOut(
        outcome=decision.outcome.value,
        route=choice.route.name if choice else None,
        message_id=choice.message.id if choice else None,
        tone=choice.tone.value if choice else None,
        channels=[c.value for c in choice.channels] if choice else [],
        not_before=choice.not_before if choice else None,
        holdout=decision.holdout,
        explanation=decision.explanation,
    )
