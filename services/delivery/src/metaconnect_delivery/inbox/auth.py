"""Who may read a customer's inbox: an operator (viewer or above), or the customer's own device
with an inbox token; and whose inbox a path's ref names.

A channel app's backend mints a short-lived inbox token for its signed-in customer at ingest
(`POST /v1/inbox/tokens`, an API key with the `inbox` scope) and hands it to the device; the
device sends it as a bearer token, or as `?token=` where it cannot set headers (a browser's
EventSource). Inbox tokens are JWTs signed with the shared `MC_AUTH_JWT_SECRET` under their own
audience (`metaconnect_common.auth`), so an inbox token is never an operator token and names
exactly one customer.

The path names the customer by a ref as the profile API takes it (`metaconnect_common.refs`),
resolved by the refs the customer's deliveries listed (`repository.customer_of`). A token
names the canonical id and opens only the inbox the ref resolves to. A customer id nothing was
delivered to yet is its own (empty) inbox; an identifier nothing was delivered to yet is an
empty inbox for operators, and no inbox for a token holder (403, as for another customer's: a
device cannot probe which addresses Metaconnect has delivered to).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from metaconnect_common.auth import InboxGrant, InvalidToken, Operator, Role, inbox_grant, verify_token
from metaconnect_common.refs import CustomerId, parse_ref
from metaconnect_common.settings import AuthSettings
from metaconnect_common.stage import SessionsDep
from metaconnect_common.state import service_state
from metaconnect_delivery import repository

_bearer = HTTPBearer(auto_error=False, description="An operator token, or the customer's inbox token.")


def _holder(settings: AuthSettings, token: str) -> InboxGrant | None:
    """What an inbox token grants; None for any other token."""
    try:
        return inbox_grant(settings, token)
    except InvalidToken:
        return None


def _require_viewer(settings: AuthSettings, token: str) -> Operator:
    """The operator; 401 unless `token` is an operator token, 403 below viewer."""
    try:
        operator = verify_token(settings, token)
    except InvalidToken:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"}) from None
    if operator.role.rank < Role.VIEWER.rank:
        raise HTTPException(403, "role viewer required")
    return operator


@dataclass(frozen=True)
class InboxAccess:
    """Whose inbox may be read, the customer first, then those merged into it (none: an operator
    asked by an identifier nothing was delivered to, an empty inbox); and until when, the
    presented token's `exp` (seconds since the epoch), which ends a stream."""

    customers: list[uuid.UUID]
    expires_at: int
    device: bool = False
    """An inbox token opened it: the customer's own device (not an operator)."""


async def inbox_reader(
    ref: str,
    request: Request,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="The inbox token, where no header can be set (SSE).")] = None,
) -> InboxAccess:
    """FastAPI dependency: whose inbox may be read and until when; 401 without a fitting token,
    422 for a ref that is none."""
    presented = credentials.credentials if credentials else token
    if not presented:
        raise HTTPException(401, "inbox or operator token required", headers={"WWW-Authenticate": "Bearer"})
    settings = service_state(request).auth
    holder = _holder(settings, presented)
    expires_at = holder.expires_at if holder is not None else _require_viewer(settings, presented).expires_at
    lookup = parse_ref(ref, field="path.ref")
    async with sessions() as session:
        customer = await repository.customer_of(session, lookup)
        if customer is None and isinstance(lookup, CustomerId):
            customer = lookup.id  # nothing delivered to it yet: its inbox is empty
        if holder is not None and holder.customer_id != customer:
            raise HTTPException(403, "the inbox token names another customer")
        customers = [] if customer is None else await repository.with_merged(session, customer)
        return InboxAccess(customers, expires_at, device=holder is not None)


InboxReader = Annotated[InboxAccess, Depends(inbox_reader)]
