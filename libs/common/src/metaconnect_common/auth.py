"""Signed bearer tokens (JWT, HS256), verified by every service with the shared key
(`MC_AUTH_JWT_SECRET`):

* operator tokens, with roles viewer < editor < admin;
* console sign-in links: `metaconnect dev` prints one; the console accepts it once;
* inbox tokens: one customer's device reads that customer's inbox. Ingest mints them for a
  channel app's backend (an API key with the `inbox` scope); delivery accepts them. Their own
  audience keeps an inbox token from ever passing as an operator token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from metaconnect_common.settings import AuthSettings
from metaconnect_common.state import service_state


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "editor": 1, "admin": 2}[self.value]


class Operator(BaseModel):
    """Who called a management API, as the token says."""

    subject: str
    role: Role
    token_id: str
    expires_at: int = Field(description="The token's `exp`, seconds since the epoch.")


def issue_token(settings: AuthSettings, *, subject: str, role: Role, ttl_s: int | None = None) -> str:
    """A signed operator token."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + (ttl_s or settings.token_ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


class InvalidToken(Exception):
    pass


def verify_token(settings: AuthSettings, token: str) -> Operator:
    """The operator a token names; raises InvalidToken for anything not signed by us."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "role"]},
            leeway=30,
        )
        return Operator(
            subject=str(claims["sub"]),
            role=Role(claims["role"]),
            token_id=str(claims.get("jti", "")),
            expires_at=int(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from None


INBOX_AUDIENCE: Final = "metaconnect-inbox"
INBOX_TOKEN_TTL_S: Final = 3600


def issue_inbox_token(settings: AuthSettings, customer_id: uuid.UUID, *, ttl_s: int = INBOX_TOKEN_TTL_S) -> str:
    """A signed inbox token for the device of customer `customer_id` (the canonical id)."""
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


@dataclass(frozen=True)
class InboxGrant:
    """What an inbox token grants: one customer's inbox, until `expires_at` (the token's `exp`)."""

    customer_id: uuid.UUID
    expires_at: int


def inbox_grant(settings: AuthSettings, token: str) -> InboxGrant:
    """The customer an inbox token names and when it expires; raises InvalidToken otherwise."""
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
        return InboxGrant(uuid.UUID(str(claims["sub"])), int(claims["exp"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from None


def inbox_customer(settings: AuthSettings, token: str) -> uuid.UUID:
    """The customer an inbox token names; raises InvalidToken otherwise."""
    return inbox_grant(settings, token).customer_id


SIGN_IN_LINK_AUDIENCE: Final = "metaconnect-console-link"
SIGN_IN_LINK_TTL_S: Final = 15 * 60


def issue_sign_in_link_token(
    settings: AuthSettings, *, subject: str, role: Role, ttl_s: int = SIGN_IN_LINK_TTL_S
) -> str:
    """A token for a one-time console sign-in link (`metaconnect dev` prints one). The console
    accepts it once, and only when its dev sign-in is switched on; its own audience keeps it
    from ever passing as an operator token."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": SIGN_IN_LINK_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def sign_in_link_grant(settings: AuthSettings, token: str) -> Operator:
    """Who a sign-in link signs in, with which role and link id; raises InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=SIGN_IN_LINK_AUDIENCE,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "role", "jti"]},
            leeway=30,
        )
        return Operator(
            subject=str(claims["sub"]),
            role=Role(claims["role"]),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from None


_bearer = HTTPBearer(auto_error=False, description="Operator token (`metaconnect tokens issue --role ROLE`).")


def require_role(minimum: Role) -> Callable[..., Awaitable[Operator]]:
    """FastAPI dependency: 401 without a valid operator token, 403 below `minimum`.

    Tokens are verified with the AuthSettings of the service's installed state.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Operator:
        if credentials is None:
            raise HTTPException(401, "operator token required", headers={"WWW-Authenticate": "Bearer"})
        settings = service_state(request).auth
        try:
            operator = verify_token(settings, credentials.credentials)
        except InvalidToken:
            raise HTTPException(401, "invalid operator token", headers={"WWW-Authenticate": "Bearer"}) from None
        if operator.role.rank < minimum.rank:
            raise HTTPException(403, f"role {minimum.value} required, token has {operator.role.value}")
        return operator

    return dependency


ViewerDep = Annotated[Operator, Depends(require_role(Role.VIEWER))]
EditorDep = Annotated[Operator, Depends(require_role(Role.EDITOR))]
AdminDep = Annotated[Operator, Depends(require_role(Role.ADMIN))]
