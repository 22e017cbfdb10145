"""Channel apps post interactions (API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody, FieldError
from metaconnect_common.http import RawBodyRoute
from metaconnect_ingest.deps import ingest_state
from metaconnect_ingest.events.schemas import EVENT_EXAMPLES, Accepted, BatchAccepted, Rejected
from metaconnect_ingest.events.service import parse_event
from metaconnect_ingest.keys.auth import api_key, authenticate, bearer_key
from metaconnect_ingest.keys.schemas import Scope
from metaconnect_ingest.keys.service import Principal

_RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    429: {"model": ErrorBody, "description": "Over this key's rate limit; see `Retry-After`."},
    503: {"model": ErrorBody, "description": "Kafka did not acknowledge; retry after `Retry-After` seconds."},
}
router = APIRouter(route_class=RawBodyRoute, prefix="/v1/events", tags=["events"], responses=_RESPONSES)


def _accepted(body: Accepted | BatchAccepted) -> Response:
    # Built from values this service made itself: serialise directly, skipping FastAPI's
    # re-validation of the response model (a large share of a batch request's cost).
    return Response(body.model_dump_json(), status_code=202, media_type="application/json")


PrincipalDep = Annotated[Principal, Depends(api_key(Scope.EVENTS))]


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    summary="Post one interaction",
    description=(
        "Answers 202 only after Kafka acknowledged the write (acks=all). `event_id` is the idempotency key: "
        "after a 503 or a timeout, retry with the same id and downstream stages apply it once."
    ),
    openapi_extra={
        "security": [{"ApiKey": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/InteractionFields"},
                    "examples": EVENT_EXAMPLES,
                }
            },
        },
    },
)
async def post_event(request: Request) -> Response:
    # The hot path reads its key and body itself: FastAPI's dependency and body resolution
    # cost more than the rest of the request, Kafka write included. Same rules, same errors.
    principal = await authenticate(request, bearer_key(request), Scope.EVENTS)
    event = parse_event(await request.body())
    interaction = await ingest_state(request).events.ingest_one(event, principal)
    return _accepted(Accepted.model_construct(accepted=[interaction.event_id]))


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchAccepted,
    summary="Post up to 1000 interactions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "properties": {
                            "events": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 1000,
                                "items": {"$ref": "#/components/schemas/InteractionFields"},
                            }
                        },
                    },
                    "examples": {"two events": {"value": {"events": [v["value"] for v in EVENT_EXAMPLES.values()]}}},
                }
            },
        }
    },
    description=(
        "**Partial acceptance**: every valid event is written and the invalid ones are reported by their "
        "index in `rejected`, each with the fields and rules it broke; fix and resend only those. If no event "
        "is valid the answer is 422 (403 when every event is outside the key's scope) and nothing is written. "
        'A batch over the limit, or a body that is not `{"events": [...]}`, is rejected whole.'
    ),
)
async def post_batch(principal: PrincipalDep, request: Request) -> Response:
    # The body is read raw: a batch of valid events is validated in one pass from the bytes,
    # and one bad event must not fail the others (see the description).
    body = await request.body()
    accepted, rejected = await ingest_state(request).events.ingest_batch(body, principal)
    if not accepted:
        flat = [
            FieldError(field=f"events.{index}.{e.field}", rule=e.rule, message=e.message)
            for index, errs in rejected
            for e in errs
        ]
        scope = all(e.rule == "key_scope" for e in flat)
        raise ApiError(
            403 if scope else 422,
            "forbidden" if scope else "validation_failed",
            "no event in the batch was accepted",
            errors=flat,
        )
    return _accepted(
        BatchAccepted.model_construct(
            accepted=[i.event_id for _, i in accepted],
            accepted_indexes=[index for index, _ in accepted],
            rejected=[Rejected.model_construct(index=index, errors=errs) for index, errs in rejected],
        )
    )
