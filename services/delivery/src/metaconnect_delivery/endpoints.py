"""Deliveries as operators read them: status, channel, provider, every attempt with its answer.

Never an address: deliveries hold none, attempts keep ids and error codes only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.refs import invalid, parse_ref
from metaconnect_common.stage import SessionDep
from metaconnect_delivery import repository
from metaconnect_delivery.models import Attempt, DeliveryRow

router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["deliveries"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "None."}},
)


class AttemptOut(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    number: int
    channel: str
    provider: str | None
    outcome: str = Field(description="sent | retry | permanent | skipped")
    status_code: int | None
    reason: str
    response: dict[str, Any] = Field(description="The provider's answer: ids and error codes.")
    duration_ms: float | None
    started_at: datetime


class DeliveryOut(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str = Field(description="sending | sent | failed")
    channel: str | None = Field(description="The channel it went out on.")
    provider: str | None
    provider_message_id: str | None
    reason: str | None = Field(description="Why it failed.")
    channels: list[str] = Field(description="The router's channel order (fail-over).")
    bundle_id: uuid.UUID | None
    urgent: bool
    items: list[dict[str, Any]]
    trace_id: str | None
    created_at: datetime
    sent_at: datetime | None
    attempts: list[AttemptOut] = Field(default_factory=list)


def _out(row: DeliveryRow, attempts: list[Attempt] | None = None) -> DeliveryOut:
    out = DeliveryOut.model_validate(row)
    if attempts is None:
        return out
    return out.model_copy(update={"attempts": [AttemptOut.model_validate(a) for a in attempts]})


@router.get(
    "/v1/deliveries",
    summary="A customer's deliveries, newest first",
    description="Newest first by (created_at, id); page on with `after`, the last id of the page before.",
    responses={404: {"model": ErrorBody, "description": "Nothing was delivered to a customer by this ref."}},
)
async def list_deliveries(
    _: ViewerDep,
    session: SessionDep,
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
        Query(description="The cursor: the id of the previous page's last delivery; the page goes on after it."),
    ] = None,
) -> list[DeliveryOut]:
    ref = parse_ref(customer, field="query.customer")
    customer_id = await repository.customer_of(session, ref)
    if customer_id is None:  # the ref's kind only: its value may be an address
        raise ApiError(
            404, "customer_not_found", f"no customer known to the delivery service by this {ref.ref_kind} ref"
        )
    customers = await repository.with_merged(session, customer_id)
    last = await repository.delivery(session, after) if after is not None else None
    if after is not None and (last is None or last.customer_id not in customers):
        raise invalid("query.after", "cursor", "not a delivery of this customer")
    return [_out(r) for r in await repository.deliveries_of(session, customers, limit, after=last)]


@router.get("/v1/deliveries/{delivery_id}", summary="One delivery with every attempt")
async def get_delivery(delivery_id: uuid.UUID, _: ViewerDep, session: SessionDep) -> DeliveryOut:
    row = await repository.delivery(session, delivery_id)
    if row is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return _out(row, list(await repository.attempts(session, delivery_id)))
