"""Who may read a customer's inbox: an operator (viewer or above), or the customer's own device
with an inbox token.

An app backend mints a short-lived inbox token for its signed-in customer
(`POST /v1/inbox/{customer_id}/token`, editor operator token) and hands it to the device; the
device sends it as a bearer token, or as `?token=` where it cannot set headers (a browser's
EventSource). Inbox tokens are JWTs signed with the shared `MC_AUTH_JWT_SECRET` under their own
audience, so an inbox token is never an operator token and names exactly one customer.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Final

import jwt
from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from metaconnect_common.auth import InvalidToken, Role, verify_token
from metaconnect_common.settings import AuthSettings
from metaconnect_common.state import service_state

INBOX_AUDIENCE: Final = "metaconnect-inbox"
INBOX_TOKEN_TTL_S: Final = 3600

_bearer = HTTPBearer(auto_error=False, description="An operator token, or the customer's inbox token.")


def issue_inbox_token(settings: AuthSettings, customer_id: uuid.UUID, *, ttl_s: int = INBOX_TOKEN_TTL_S) -> str:
    now = int(time.time())
    claims = {
        "sub": str(customer_id),
        "scope": "inbox",
        "iss": settings.jwt_issuer,
        "aud": INBOX_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def inbox_customer(settings: AuthSettings, token: str) -> uuid.UUID:
    """The customer an inbox token names; raises InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=INBOX_AUDIENCE,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "scope"]},
            leeway=30,
        )
        if claims["scope"] != "inbox":
            raise InvalidToken("scope")
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from None


async def inbox_reader(
    customer_id: uuid.UUID,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="The inbox token, where no header can be set (SSE).")] = None,
) -> uuid.UUID:
    """FastAPI dependency: the customer whose inbox may be read; 401 without a fitting token."""
    presented = credentials.credentials if credentials else token
    if not presented:
        raise HTTPException(401, "inbox or operator token required", headers={"WWW-Authenticate": "Bearer"})
    settings = service_state(request).auth
    try:
        if inbox_customer(settings, presented) == customer_id:
            return customer_id
        raise HTTPException(403, "the inbox token names another customer")
    except InvalidToken:
        pass
    try:
        operator = verify_token(settings, presented)
    except InvalidToken:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"}) from None
    if operator.role.rank < Role.VIEWER.rank:
        raise HTTPException(403, "role viewer required")
    return customer_id


InboxReader = Annotated[uuid.UUID, Depends(inbox_reader)]
