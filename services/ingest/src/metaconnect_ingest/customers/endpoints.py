"""A channel app's backend mints inbox tokens for its signed-in customers (API key, `inbox` scope)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.refs import parse_ref
from metaconnect_ingest.deps import InboxTokensDep
from metaconnect_ingest.keys.auth import api_key
from metaconnect_ingest.keys.schemas import Scope
from metaconnect_ingest.keys.service import Principal

log = logging.getLogger(__name__)
router = APIRouter(
    route_class=StrictQueryRoute,
    prefix="/v1/inbox",
    tags=["inbox"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No customer has this ref (yet)."}},
)


class InboxTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="The signed-in customer: the Metaconnect id (UUID) or a ref, e.g. `cid:c-1042`."
    )


class InboxToken(BaseModel):
    token: str = Field(description="For the customer's device: `Authorization: Bearer`, or `?token=` for SSE.")
    expires_in: int = Field(description="Seconds.")
    customer_id: uuid.UUID = Field(description="Whose inbox it opens: `GET /v1/inbox/{customer_id}` at delivery.")


@router.post(
    "/tokens",
    summary="An inbox token for a customer's device",
    description=(
        "For the app's backend, with an API key holding the `inbox` scope: a token (1 h) that opens the "
        "customer's in-app inbox at the delivery service and nothing else. The customer must be known to "
        "Metaconnect: a ref no customer has answers 404 (an event that just created the customer reaches "
        "this service within moments; retry)."
    ),
    openapi_extra={"security": [{"ApiKey": []}]},
)
async def mint_inbox_token(
    body: InboxTokenRequest,
    principal: Annotated[Principal, Depends(api_key(Scope.INBOX))],
    tokens: InboxTokensDep,
) -> InboxToken:
    minted = await tokens.mint(parse_ref(body.customer, field="customer"), field="customer")
    if minted is None:
        raise ApiError(404, "not_found", "no customer is known by this ref")
    log.info("inbox token minted for customer %s by key %s", minted.customer_id, principal.key_id)
    return InboxToken(token=minted.token, expires_in=minted.expires_in, customer_id=minted.customer_id)
