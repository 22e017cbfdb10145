"""Marketing ops manage journeys; support reads where a customer is in them (operator tokens:
viewer reads, editor writes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query

from metaconnect_common import periods
from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.periods import DayOrTime
from metaconnect_common.refs import parse_ref
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot, StageChange
from metaconnect_common.stage import SessionDep
from metaconnect_router.decisions import repository as decisions
from metaconnect_router.deps import DecisionServiceDep, JourneyServiceDep, journey_service
from metaconnect_router.journeys import report
from metaconnect_router.journeys.engine import CompiledJourney, enters
from metaconnect_router.journeys.report import JourneyReport
from metaconnect_router.journeys.schemas import (
    JOURNEY_ANSWERS,
    CustomerJourneys,
    JourneySimulateIn,
    JourneySimulateOut,
    SimulatedEvent,
    SimulatedStepOut,
    WalkOut,
)
from metaconnect_router.journeys.service import JOURNEYS
from metaconnect_router.journeys.simulation import ScriptedEvent, simulate_walk
from metaconnect_router.journeys.walking import event_document
from metaconnect_router.versioned_endpoints import versioned_router

EXAMPLE: dict[str, Any] = {
    "name": "visit-invite",
    "description": "Invite new leads to the show house; remind them once if they book no visit within a week.",
    "status": "active",
    "entry": {"stage": "lead"},
    "goals": [{"name": "visit-booked", "event_types": ["visit.booked"]}],
    "steps": [
        {
            "id": "invite",
            "type": "send",
            "message": {
                "id": "invite",
                "channels": ["push", "email"],
                "variants": {
                    "neutral": {
                        "push": {"en": {"title": "Visit our show house", "body": "Book a visit in one tap."}},
                        "email": {"en": {"subject": "Visit our show house", "body": "Book a visit any day."}},
                    }
                },
            },
        },
        {"id": "wait-a-week", "type": "wait", "duration": "P7D"},
        {
            "id": "remind",
            "type": "send",
            "message": {
                "id": "remind",
                "channels": ["push", "email"],
                "variants": {
                    "neutral": {
                        "push": {"en": {"title": "Still curious?", "body": "The show house is open this weekend."}},
                        "email": {"en": {"subject": "Still curious?", "body": "The show house is open this weekend."}},
                    }
                },
            },
        },
    ],
}

router = versioned_router(JOURNEYS, JOURNEY_ANSWERS, journey_service, example=EXAMPLE, tag="journeys")

walks_router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["journeys"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "Unknown customer, or no walk."}},
)

RefPath = Annotated[
    str,
    Path(
        description="The customer, named as in `GET /v1/profiles/{ref}`: the Metaconnect id or one identifier "
        "`cid:`, `email:`, `phone:`, `ext:<system>:`.",
        max_length=4200,
    ),
]


async def _customer(session: SessionDep, ref: str) -> Any:
    parsed = parse_ref(ref, field="path.ref")
    customer_id = await decisions.customer_of(session, parsed)
    if customer_id is None:  # the ref's kind only: its value may be an address
        raise ApiError(404, "customer_not_found", f"no customer known to the router by this {parsed.ref_kind} ref")
    return customer_id


@walks_router.get(
    "/v1/journeys/{name}/customers/{ref}",
    summary="Where a customer is in a journey: current step, what it waits for, history with times",
    description="Their latest walk through the journey (an ended one too).",
)
async def journey_walk(
    name: str, ref: RefPath, session: SessionDep, _: ViewerDep, journeys: JourneyServiceDep
) -> WalkOut:
    customer_id = await _customer(session, ref)
    walks = await journeys.walks(customer_id, journey=name, limit=1)
    if not walks:
        raise ApiError(404, "not_found", f"the customer has not entered journey {name}")
    return walks[0]


@walks_router.get("/v1/customers/{ref}/journeys", summary="Every journey a customer is in or was in, newest first")
async def customer_journeys(
    ref: RefPath,
    session: SessionDep,
    _: ViewerDep,
    journeys: JourneyServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerJourneys:
    customer_id = await _customer(session, ref)
    return CustomerJourneys(customer_id=customer_id, walks=await journeys.walks(customer_id, limit=limit))


@walks_router.post(
    "/v1/journeys/simulate",
    summary="The path a customer would take through a journey, waits compressed; sends and stores nothing",
    description="Each send step is decided by the live decision code (tone, channels, why); caps and open "
    "bundles do not count. Scripted `events` arrive `after` the entry; a wait for an event that no script "
    "sends times out.",
)
async def simulate_journey(
    body: JourneySimulateIn, _: ViewerDep, session: SessionDep, journeys: JourneyServiceDep, service: DecisionServiceDep
) -> JourneySimulateOut:
    if body.journey is not None:
        journey = CompiledJourney(body.journey.name, 0, body.journey)
    else:
        current = await journeys.get(body.name or "")
        if current is None:
            raise ApiError(404, "not_found", f"no journey {body.name}")
        journey = CompiledJourney(current.name, current.version, current.spec)
    now = datetime.now(UTC)
    entry = _interaction(body.customer_id, body.entry, now)
    entry_change = _stage_change(body.profile, body.entry)
    script = [
        ScriptedEvent(e.after, _interaction(body.customer_id, e, now + e.after), _stage_change(body.profile, e))
        for e in body.events
    ]
    steps, walk = simulate_walk(
        journey,
        body.profile,
        body.customer_id,
        entry,
        script,
        posteriors=await service.posteriors(session),
        rng=np.random.default_rng(),
        tone_prior=service.sender.tone_prior,
        horizon=body.horizon,
    )
    profile_doc = body.profile.model_dump(mode="json")
    return JourneySimulateOut(
        journey=journey.name,
        version=journey.version,
        enters=enters(journey, event_document(entry), profile_doc, entry_change, now),
        status=walk.status.value,
        end_reason=walk.end_reason,
        step_id=walk.step_id,
        holdout=walk.holdout,
        steps=[SimulatedStepOut(**vars(s)) for s in steps],
    )


def _interaction(customer_id: uuid.UUID, event: SimulatedEvent, at: datetime) -> Interaction:
    return Interaction(
        event_id=uuid.uuid4(),
        customer=CustomerRef(metaconnect_id=customer_id),
        type=event.type,
        channel=Channel.WEB,
        occurred_at=at,
        received_at=at,
        source="simulation",
        properties=event.properties,
    )


def _stage_change(profile: ProfileSnapshot, event: SimulatedEvent) -> StageChange | None:
    if event.stage is None or event.stage == profile.lifecycle_stage:
        return None
    return StageChange(from_stage=profile.lifecycle_stage, to_stage=event.stage)


@walks_router.get(
    "/v1/reports/journeys/{name}",
    summary="A journey's report: entered, where they are, each step, conversions by goal, split arm and holdout",
    tags=["reports"],
)
async def journey_report(
    name: str,
    session: SessionDep,
    _: ViewerDep,
    journeys: JourneyServiceDep,
    since: Annotated[
        DayOrTime | None,
        Query(description="Walks entered at or after this time (or day, UTC); default: 30 days before `until`."),
    ] = None,
    until: Annotated[
        DayOrTime | None, Query(description="Walks entered before this time (or day); default: now.")
    ] = None,
) -> JourneyReport:
    start, end = periods.window(since, until, default_span=timedelta(days=30))
    current = await journeys.get(name)
    walks, runs, reached, resting = await report.counts(session, name, start, end)
    if current is None and not walks:
        raise ApiError(404, "not_found", f"no journey {name}")
    return report.assemble(name, current.spec if current else None, start, end, walks, runs, reached, resting)
