"""Marketing ops manage journeys; support reads where a customer is in them (operator tokens:
viewer reads, editor writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.refs import parse_ref
from metaconnect_common.stage import SessionDep
from metaconnect_router.decisions import repository as decisions
from metaconnect_router.deps import JourneyServiceDep, journey_service
from metaconnect_router.journeys.schemas import JOURNEY_ANSWERS, CustomerJourneys, WalkOut
from metaconnect_router.journeys.service import JOURNEYS
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

CustomerRef = Annotated[
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
    name: str, ref: CustomerRef, session: SessionDep, _: ViewerDep, journeys: JourneyServiceDep
) -> WalkOut:
    customer_id = await _customer(session, ref)
    walks = await journeys.walks(customer_id, journey=name, limit=1)
    if not walks:
        raise ApiError(404, "not_found", f"the customer has not entered journey {name}")
    return walks[0]


@walks_router.get("/v1/customers/{ref}/journeys", summary="Every journey a customer is in or was in, newest first")
async def customer_journeys(
    ref: CustomerRef,
    session: SessionDep,
    _: ViewerDep,
    journeys: JourneyServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerJourneys:
    customer_id = await _customer(session, ref)
    return CustomerJourneys(customer_id=customer_id, walks=await journeys.walks(customer_id, limit=limit))
